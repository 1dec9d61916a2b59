"""Tests of the ctypes binding (linedb.py) against the built library.

    LINEDB_LIB=target/debug/liblinedb.so python3 examples/python/test_linedb.py

`cargo test` runs it (tests/c_api.rs). Prints "N passed, 0 failed" last.
"""

import os
import shutil
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import linedb  # noqa: E402


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="linedb-py-")
        self.path = os.path.join(self.dir, "store")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_version_and_codes(self):
        self.assertEqual(linedb.version(), "0.1.0")
        self.assertEqual(linedb.code_name(linedb.LOCKED), "LINEDB_ERR_LOCKED")
        self.assertEqual(linedb.code_name(99), "LINEDB_UNKNOWN_CODE")

    def test_write_query_and_statuses(self):
        with linedb.Store(self.path) as db:
            db.create_database("metrics")
            token = db.create_token("metrics")
            self.assertTrue(token.startswith("ldb_") and len(token) == 44)
            self.assertEqual(db.write("metrics", "cpu,host=a usage=1.5 1000\ncpu,host=b usage=2 1000\n",
                                      token=token), 2)
            with self.assertRaises(linedb.WriteError) as bad:
                db.write("metrics", "cpu usage=1 1\ncpu usage=\n", token=token)
            self.assertEqual(bad.exception.status, 400)
            self.assertEqual(bad.exception.error_line, 2)
            self.assertIn("cpu usage=", str(bad.exception))
            with self.assertRaises(linedb.WriteError) as conflict:
                db.write("metrics", "cpu,host=c usage=1i 2000", token=token)
            self.assertEqual(conflict.exception.status, 400)
            with self.assertRaises(linedb.WriteError) as unauthorized:
                db.write("metrics", "cpu usage=1 1")
            self.assertEqual(unauthorized.exception.status, 401)
            self.assertEqual(db.query("metrics", token=token),
                             ["cpu,host=a usage=1.5 1000", "cpu,host=b usage=2 1000"])
            self.assertEqual(db.query("metrics", token=token, limit=1), ["cpu,host=a usage=1.5 1000"])
            self.assertEqual(db.field_type("metrics", "cpu", 1000, "usage"), "float")
            self.assertIsNone(db.field_type("metrics", "cpu", 1000, "nope"))
            db.revoke_token(token)
            with self.assertRaises(linedb.QueryError) as revoked:
                db.query("metrics", token=token)
            self.assertEqual(revoked.exception.status, 401)
            stats = db.stats()
            self.assertEqual(stats["points"], 2)
            self.assertEqual(stats["databases"], 1)

    def test_errors_raise_with_their_code(self):
        with linedb.Store(self.path, no_auth=True) as db:
            db.create_database("db")
            with self.assertRaises(linedb.LinedbError) as exists:
                db.create_database("db")
            self.assertEqual(exists.exception.code, linedb.ALREADY_EXISTS)
            with self.assertRaises(linedb.LinedbError) as locked:
                linedb.Store(self.path)
            self.assertEqual(locked.exception.name, "LINEDB_ERR_LOCKED")
            with self.assertRaises(linedb.WriteError) as missing:
                db.write("nope", "m f=1 1")
            self.assertEqual(missing.exception.status, 404)
        with self.assertRaises(linedb.LinedbError) as io:
            linedb.Store(os.path.join(self.dir, "missing", "store"))
        self.assertEqual(io.exception.code, linedb.IO)

    def test_threads_and_reopen(self):
        with linedb.Store(self.path, no_auth=True) as db:
            db.create_database("db")

            def writer(n):
                for b in range(5):
                    db.write("db", "".join(f"m,t={n} v={b * 10 + p}i {b * 10 + p + 1}\n"
                                           for p in range(10)))

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(len(db.query("db")), 200)
        with linedb.Store(self.path, no_auth=True) as db:
            self.assertEqual(len(db.query("db")), 200)

    def test_a_batch_over_the_limits_is_413(self):
        # max_wal_bytes below 1 MiB is taken as 1 MiB: a 2 MiB batch's
        # record can never fit, so it is 413 (never 503), nothing stored.
        with linedb.Store(self.path, no_auth=True, max_wal_bytes=64) as db:
            db.create_database("db")
            big = "".join(f"m f={i},s=\"{i:040}\" {i + 1}\n" for i in range(40000))
            with self.assertRaises(linedb.WriteError) as too_large:
                db.write("db", big)
            self.assertEqual(too_large.exception.status, 413)
            self.assertEqual(too_large.exception.retry_after_secs, 0)
            self.assertEqual(db.query("db"), [])
            db.write("db", "m f=1 1\nm f=2 2\n")
            self.assertEqual(len(db.query("db")), 2)


class InfluxQLTest(unittest.TestCase):
    """linedb_influxql's JSON, and linedb_influxql_arrow read by pyarrow and
    queried by DuckDB (both installed by .ci/run; outside CI a missing one
    is reported and its checks skipped)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="linedb-py-iql-")
        self.db = linedb.Store(os.path.join(self.dir, "store"), no_auth=True)
        self.db.create_database("m")
        lines = "".join(f"cpu,host=h{i % 3} v={i * 1.5},n={i}i,s=\"x{i % 2}\",ok={'true' if i % 2 else 'false'} "
                        f"{i * 10_000_000_000}\n" for i in range(30))
        self.assertEqual(self.db.write("m", lines), 30)

    def tearDown(self):
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def imports(self, *names):
        try:
            return [__import__(n) for n in names]
        except ImportError as e:
            if os.environ.get("CI"):
                raise
            print(f"\n*** SKIPPED: {e} (pip install pyarrow duckdb) ***", file=sys.stderr)
            self.skipTest(str(e))

    def test_json(self):
        doc = self.db.influxql("m", "SELECT count(n) FROM cpu GROUP BY host")
        series = doc["results"][0]["series"]
        self.assertEqual([s["tags"]["host"] for s in series], ["h0", "h1", "h2"])
        self.assertEqual([s["values"][0][1] for s in series], [10, 10, 10])

    def test_arrow_stream_in_pyarrow_and_duckdb(self):
        pa, duckdb = self.imports("pyarrow", "duckdb")
        table = self.db.arrow("m", "SELECT * FROM cpu WHERE time >= 0 AND time < 200s")
        self.assertEqual(table.num_rows, 20)
        self.assertEqual(table.column_names, ["time", "host", "n", "ok", "s", "v"])
        self.assertEqual(str(table.schema.field("time").type), "timestamp[ns, tz=UTC]")
        self.assertEqual(table.schema.field("n").type, pa.int64())
        self.assertEqual(table.schema.field("v").type, pa.float64())
        self.assertEqual(table.schema.field("ok").type, pa.bool_())
        self.assertEqual(table.schema.field("s").type, pa.string())
        self.assertEqual(table.column("n").to_pylist(), list(range(20)))
        self.assertEqual(table.column("v").to_pylist()[3], 4.5)
        points = table  # DuckDB reads the Arrow table by its variable name
        rows = duckdb.sql("SELECT host, sum(n) AS total, count(*) AS c FROM points GROUP BY host ORDER BY host").fetchall()
        self.assertEqual(rows, [("h0", 63, 7), ("h1", 70, 7), ("h2", 57, 6)])
        # Grouped by tag: a batch per series, the tag as a column.
        grouped = self.db.arrow("m", "SELECT mean(v) FROM cpu WHERE time >= 0 AND time < 300s GROUP BY time(100s), host")
        self.assertEqual(grouped.column_names, ["time", "host", "mean"])
        self.assertEqual(grouped.num_rows, 9)
        self.assertEqual(sorted(set(grouped.column("host").to_pylist())), ["h0", "h1", "h2"])
        total = duckdb.sql("SELECT round(sum(mean), 6) FROM grouped").fetchall()[0][0]
        expected = sum(sum(i * 1.5 for i in range(w * 10, w * 10 + 10) if i % 3 == h) /
                       len([i for i in range(w * 10, w * 10 + 10) if i % 3 == h])
                       for w in range(3) for h in range(3))
        self.assertAlmostEqual(total, round(expected, 6), places=6)

    def test_arrow_errors(self):
        with self.assertRaises(linedb.QueryError) as bad:
            self.db.arrow("m", "SELECT v, count(v) FROM cpu")
        self.assertEqual(bad.exception.status, 400)
        with self.assertRaises(linedb.QueryError) as bad:
            self.db.arrow("m", "SHOW MEASUREMENTS; SHOW MEASUREMENTS")
        self.assertEqual(bad.exception.status, 400)
        with self.assertRaises(linedb.QueryError) as bad:
            self.db.arrow("nodb", "SHOW MEASUREMENTS")
        self.assertEqual(bad.exception.status, 404)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failures = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failures} passed, {failures} failed")
    sys.exit(0 if failures == 0 and result.testsRun > 0 else 1)
