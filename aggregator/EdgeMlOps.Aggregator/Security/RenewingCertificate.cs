using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Shared.Security;


namespace EdgeMlOps.Aggregator.Security;

/// <summary>A certificate with its key that is issued again once two thirds of its life have passed; read at every (re)connection.</summary>
public sealed class RenewingCertificate(Func<DateTimeOffset, X509Certificate2> issue, TimeProvider time) : IDisposable
{
    private readonly object _gate = new();
    private X509Certificate2? _current;

    public X509Certificate2 Current
    {
        get
        {
            lock (_gate)
            {
                var now = time.GetUtcNow();
                if (_current is null || now >= CertificateChain.RenewAt(_current))
                {
                    _current?.Dispose();
                    _current = issue(now);
                }

                return _current;
            }
        }
    }

    public void Dispose()
    {
        lock (_gate) _current?.Dispose();
    }

}
