"""Builds examples/data/sales.sqlite3, the bundled database of the sales examples (deterministic)."""

import pathlib
import random
import sqlite3

PATH = pathlib.Path(__file__).with_name("sales.sqlite3")
REGIONS = ["north", "south", "east", "west"]


def build(path: pathlib.Path = PATH) -> pathlib.Path:
    path.unlink(missing_ok=True)
    rng = random.Random(7)
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE sales (id INTEGER PRIMARY KEY, day TEXT NOT NULL, region TEXT NOT NULL, amount REAL NOT NULL);
        CREATE TABLE expenses (id INTEGER PRIMARY KEY, day TEXT NOT NULL, region TEXT NOT NULL,
                               category TEXT NOT NULL, amount REAL NOT NULL);
    """)
    for day in range(1, 91):
        date = f"2025-{(day - 1) // 30 + 1:02d}-{(day - 1) % 30 + 1:02d}"
        for region in REGIONS:
            db.execute("INSERT INTO sales (day, region, amount) VALUES (?, ?, ?)",
                       (date, region, round(rng.uniform(500, 1500), 2)))
            db.execute("INSERT INTO expenses (day, region, category, amount) VALUES (?, ?, ?, ?)",
                       (date, region, rng.choice(["staff", "rent", "travel"]), round(rng.uniform(300, 1200), 2)))
    db.commit()
    db.close()
    return path


if __name__ == "__main__":
    print(build())
