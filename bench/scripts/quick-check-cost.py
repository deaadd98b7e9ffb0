#!/usr/bin/env python3
"""What the aggregator's start-up page check (PRAGMA quick_check on every SQLite store) costs on a large store:
builds a message-id table like messages.db with 1,000,000 rows (7 days of ids for a busy fleet) in a temporary
directory, then times quick_check on it.  /usr/bin/python3 bench/scripts/quick-check-cost.py"""
import os, sqlite3, tempfile, time, uuid

with tempfile.TemporaryDirectory() as work:
    path = os.path.join(work, "messages.db")
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE seen(device TEXT, id TEXT, at INTEGER, claim TEXT, PRIMARY KEY(device, id))")
    db.executemany("INSERT INTO seen VALUES (?, ?, ?, ?)",
                   ((f"dev-{i % 10000}", uuid.uuid4().hex, i, uuid.uuid4().hex) for i in range(1_000_000)))
    db.commit()
    db.close()
    db = sqlite3.connect(path)
    start = time.time()
    result = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    print(f"{os.path.getsize(path) / 1e6:.0f} MB, 1,000,000 rows: quick_check {result} in {time.time() - start:.2f} s "
          f"(SQLite {sqlite3.sqlite_version})")
