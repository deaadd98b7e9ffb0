"""What the fixture scripts that train on scikit-learn's 8x8 digit scans (digits_tokens.csv) share: loading the scans,
pre-training a model with Adam on some of them, and recording PyTorch's logits, loss and gradients on a batch.
Imported by the export_*.py scripts beside it; run those from this directory."""
import numpy as np
import torch
import torch.nn.functional as F


def load_digits(shape):
    """The scans as float intensities 0-16 shaped `shape` (e.g. (-1, 8, 8)), and their digits."""
    scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
    return torch.tensor(scans[:, :64], dtype=torch.float32).reshape(shape), torch.tensor(scans[:, 64])


def digits_0_to_4(digits):
    """The scans of digits 0-4 among the first 1,400 (the rest are held out): what the uploaded models learnt from."""
    return (torch.arange(len(digits)) < 1400) & (digits <= 4)


def pretrain_full_batch(model, inputs, digits, epochs, **adam):
    """Adam (lr 0.01 unless `adam` says otherwise) on all of `inputs` at once, `epochs` times; the model left in eval mode."""
    optimizer = torch.optim.Adam(model.parameters(), **{"lr": 0.01, **adam})
    for _ in range(epochs):
        optimizer.zero_grad()
        F.cross_entropy(model(inputs), digits).backward()
        optimizer.step()
    model.eval()


def pretrain_in_batches(model, inputs, digits, indices, epochs, size, shuffle=True):
    """Adam (lr 0.01) on batches of `size` of the rows `indices`, in an order shuffled each epoch (or as given)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(epochs):
        order = indices[torch.randperm(len(indices))] if shuffle else indices
        for start in range(0, len(order), size):
            batch = order[start:start + size]
            optimizer.zero_grad()
            F.cross_entropy(model(inputs[batch]), digits[batch]).backward()
            optimizer.step()
    model.eval()


def gradient_record(model, inputs, digits):
    """PyTorch on one batch: its pixels, digits, logits, mean cross-entropy and every parameter's gradient of it (zero
    for a parameter the batch does not reach)."""
    model.zero_grad()
    logits = model(inputs)
    loss = F.cross_entropy(logits, digits)
    loss.backward()
    return {
        "pixels": inputs.flatten().tolist(),
        "digits": digits.tolist(),
        "logits": logits.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: (p.grad if p.grad is not None else torch.zeros_like(p)).flatten().tolist() for n, p in model.named_parameters()},
    }
