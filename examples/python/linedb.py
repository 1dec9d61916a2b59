"""A small ctypes binding of linedb's C API (include/linedb.h, docs/api.md).

    from linedb import Store
    with Store("demo-data", no_auth=True) as db:
        db.create_database("metrics")
        db.write("metrics", b"cpu,host=a usage=1.5 1000\n")
        for line in db.query("metrics"):
            print(line)

The shared library is found through $LINEDB_LIB (a path to liblinedb.so),
else target/release/liblinedb.so of this repository, else its
target/debug/liblinedb.so (with a note on stderr: the debug build is
several times slower), else the system's `liblinedb.so`. Memory: every buffer is Python's; the library never hands
out memory to free. Errors raise LinedbError (with .code and .name) for the
calls that answer a linedb_code, and WriteError/QueryError (with .status,
.error_line, .retry_after_secs) for writes and queries.
"""

import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_int, c_int64, c_size_t,
                    c_uint16, c_uint32, c_uint64, c_void_p)

MESSAGE_MAX = 1024
TOKEN_BUF = 128
OPEN_NO_AUTH = 1
PERM_READ = 1
PERM_WRITE = 2
PRECISION = {"ns": 0, "us": 1, "ms": 2, "s": 3}
FIELD_TYPES = {0: None, 1: "float", 2: "integer", 3: "uinteger", 4: "string", 5: "boolean"}

OK = 0
INVALID_ARGUMENT = 1
NOT_FOUND = 2
ALREADY_EXISTS = 3
LOCKED = 4
IO = 5
CORRUPT = 6
VERSION = 7
INTERNAL = 8


class Options(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32), ("max_wal_bytes", c_uint64),
                ("max_columns_per_table", c_uint32), ("max_tables_per_database", c_uint32),
                ("max_batch_bytes", c_uint64)]


class Error(Structure):
    _fields_ = [("code", c_uint32), ("message", c_char * MESSAGE_MAX)]


class Result(Structure):
    _fields_ = [("status", c_uint16), ("retry_after_secs", c_uint32), ("count", c_uint64),
                ("error_line", c_uint64), ("message", c_char * MESSAGE_MAX)]


class Stats(Structure):
    _fields_ = [("struct_size", c_uint32), ("databases", c_uint64), ("partitions", c_uint64),
                ("points", c_uint64), ("wal_bytes", c_uint64), ("segment_bytes", c_uint64),
                ("writes_accepted", c_uint64), ("writes_rejected", c_uint64),
                ("last_sequence", c_uint64)]


LINE_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_char), c_size_t)


def _find_library():
    path = os.environ.get("LINEDB_LIB")
    if path:
        return path
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(here, "..", "..", "target")
    release = os.path.join(target, "release", "liblinedb.so")
    if os.path.exists(release):
        return release
    debug = os.path.join(target, "debug", "liblinedb.so")
    if os.path.exists(debug):
        # Several times slower than the release build: say so once.
        import sys
        print(f"linedb: using the debug build {os.path.normpath(debug)}; "
              "`cargo build --release` for the fast one", file=sys.stderr)
        return debug
    return "liblinedb.so"


def _load(path):
    lib = ctypes.CDLL(path)
    lib.linedb_version.restype = c_char_p
    lib.linedb_version.argtypes = []
    lib.linedb_code_name.restype = c_char_p
    lib.linedb_code_name.argtypes = [c_uint32]
    lib.linedb_options_init.restype = None
    lib.linedb_options_init.argtypes = [POINTER(Options)]
    lib.linedb_open.restype = c_uint32
    lib.linedb_open.argtypes = [c_char_p, POINTER(Options), POINTER(c_void_p), POINTER(Error)]
    lib.linedb_close.restype = c_uint32
    lib.linedb_close.argtypes = [c_void_p, POINTER(Error)]
    lib.linedb_create_database.restype = c_uint32
    lib.linedb_create_database.argtypes = [c_void_p, c_char_p, POINTER(Error)]
    lib.linedb_create_token.restype = c_uint32
    lib.linedb_create_token.argtypes = [c_void_p, c_char_p, c_uint32, POINTER(c_char), c_size_t,
                                        POINTER(Error)]
    lib.linedb_revoke_token.restype = c_uint32
    lib.linedb_revoke_token.argtypes = [c_void_p, c_char_p, POINTER(Error)]
    lib.linedb_write.restype = c_uint16
    lib.linedb_write.argtypes = [c_void_p, c_char_p, c_char_p, c_char_p, c_size_t, c_uint32,
                                 POINTER(Result)]
    lib.linedb_query.restype = c_uint16
    lib.linedb_query.argtypes = [c_void_p, c_char_p, c_char_p, c_char_p, c_int64, c_int64, LINE_FN,
                                 c_void_p, POINTER(Result)]
    lib.linedb_influxql.restype = c_uint16
    lib.linedb_influxql.argtypes = [c_void_p, c_char_p, c_char_p, c_char_p, c_void_p, LINE_FN, c_void_p,
                                    POINTER(Result)]
    lib.linedb_influxql_arrow.restype = c_uint16
    lib.linedb_influxql_arrow.argtypes = [c_void_p, c_char_p, c_char_p, c_char_p, c_void_p, c_void_p,
                                          POINTER(Result)]
    lib.linedb_stats_get.restype = c_uint32
    lib.linedb_stats_get.argtypes = [c_void_p, POINTER(Stats), POINTER(Error)]
    lib.linedb_field_type_get.restype = c_uint32
    lib.linedb_field_type_get.argtypes = [c_void_p, c_char_p, c_char_p, c_int64, c_char_p,
                                          POINTER(c_uint32), POINTER(Error)]
    lib.linedb_checkpoint.restype = c_uint32
    lib.linedb_checkpoint.argtypes = [c_void_p, POINTER(Error)]
    return lib


lib = _load(_find_library())


def version():
    return lib.linedb_version().decode()


def code_name(code):
    return lib.linedb_code_name(code).decode()


class LinedbError(Exception):
    def __init__(self, code, message):
        self.code = code
        self.name = code_name(code)
        super().__init__(f"{self.name}: {message}")


class WriteError(Exception):
    def __init__(self, result):
        self.status = result.status
        self.error_line = result.error_line
        self.retry_after_secs = result.retry_after_secs
        super().__init__(f"{result.status}: {result.message.decode(errors='replace')}")


class QueryError(WriteError):
    pass


def _check(code, err):
    if code != OK:
        raise LinedbError(code, err.message.decode(errors="replace"))


def _text(value):
    return None if value is None else value.encode() if isinstance(value, str) else value


class Store:
    """An open store (a linedb handle). Thread-safe, like the handle."""

    def __init__(self, path, no_auth=False, max_wal_bytes=0, max_batch_bytes=0):
        opts = Options()
        lib.linedb_options_init(ctypes.byref(opts))
        opts.flags = OPEN_NO_AUTH if no_auth else 0
        opts.max_wal_bytes = max_wal_bytes
        opts.max_batch_bytes = max_batch_bytes
        handle = c_void_p()
        err = Error()
        _check(lib.linedb_open(_text(os.fspath(path)), ctypes.byref(opts), ctypes.byref(handle),
                               ctypes.byref(err)), err)
        self._db = handle

    def close(self):
        if self._db is not None:
            db, self._db = self._db, None
            err = Error()
            _check(lib.linedb_close(db, ctypes.byref(err)), err)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_db", None) is not None:
            lib.linedb_close(self._db, None)

    def create_database(self, name):
        err = Error()
        _check(lib.linedb_create_database(self._db, _text(name), ctypes.byref(err)), err)

    def create_token(self, database, perms=PERM_READ | PERM_WRITE):
        buf = ctypes.create_string_buffer(TOKEN_BUF)
        err = Error()
        _check(lib.linedb_create_token(self._db, _text(database), perms, buf, len(buf),
                                       ctypes.byref(err)), err)
        return buf.value.decode()

    def revoke_token(self, token):
        err = Error()
        _check(lib.linedb_revoke_token(self._db, _text(token), ctypes.byref(err)), err)

    def write(self, database, lines, token=None, precision="ns"):
        """Writes a batch (bytes or str); returns the number of points. Raises
        WriteError with the status (400, 401, 404, 500, 503) otherwise."""
        data = _text(lines)
        res = Result()
        status = lib.linedb_write(self._db, _text(database), _text(token), data, len(data),
                                  PRECISION[precision], ctypes.byref(res))
        if status != 204:
            raise WriteError(res)
        return res.count

    def query(self, database, measurement=None, start=-(2**63), end=2**63 - 1, token=None,
              limit=None):
        """The stored points as a list of canonical line protocol strings."""
        lines = []

        def on_line(_ctx, line, length):
            lines.append(ctypes.string_at(line, length).decode())
            return 1 if limit is not None and len(lines) >= limit else 0

        callback = LINE_FN(on_line)  # kept alive for the call
        res = Result()
        status = lib.linedb_query(self._db, _text(database), _text(token), _text(measurement), start,
                                  end, callback, None, ctypes.byref(res))
        if status != 200:
            raise QueryError(res)
        return lines

    def influxql(self, database, text, token=None):
        """InfluxQL statements' answer: influxd's JSON document, as a dict."""
        pieces = []

        def on_piece(_ctx, piece, length):
            pieces.append(ctypes.string_at(piece, length))
            return 0

        callback = LINE_FN(on_piece)  # kept alive for the call
        res = Result()
        status = lib.linedb_influxql(self._db, _text(database), _text(token), _text(text), None, callback,
                                     None, ctypes.byref(res))
        if status != 200:
            raise QueryError(res)
        import json
        return json.loads(b"".join(pieces))

    def arrow(self, database, text, token=None):
        """One InfluxQL statement's answer as a pyarrow.Table, through the
        Arrow C Stream Interface (no copy through text)."""
        import pyarrow
        stream = (ctypes.c_uint8 * 64)()  # a struct ArrowArrayStream (40 bytes)
        res = Result()
        status = lib.linedb_influxql_arrow(self._db, _text(database), _text(token), _text(text), None,
                                           ctypes.addressof(stream), ctypes.byref(res))
        if status != 200:
            raise QueryError(res)
        reader = pyarrow.RecordBatchReader._import_from_c(ctypes.addressof(stream))
        return reader.read_all()

    def stats(self):
        stats = Stats()
        stats.struct_size = ctypes.sizeof(Stats)
        err = Error()
        _check(lib.linedb_stats_get(self._db, ctypes.byref(stats), ctypes.byref(err)), err)
        return {name: getattr(stats, name) for name, _ in Stats._fields_ if name != "struct_size"}

    def field_type(self, database, measurement, time_ns, field):
        out = c_uint32()
        err = Error()
        _check(lib.linedb_field_type_get(self._db, _text(database), _text(measurement), time_ns,
                                         _text(field), ctypes.byref(out), ctypes.byref(err)), err)
        return FIELD_TYPES.get(out.value)

    def checkpoint(self):
        err = Error()
        _check(lib.linedb_checkpoint(self._db, ctypes.byref(err)), err)
