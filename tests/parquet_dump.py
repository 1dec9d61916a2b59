"""Dumps a Parquet file as pyarrow reads it, for tests/export.rs.

Usage: python3 parquet_dump.py FILE

Prints tab-separated lines the Rust test parses without a JSON parser:
  rows N / row_groups N
  meta KEY VALUE                      (the file's key-value metadata)
  column NAME_HEX ARROW_TYPE          (in schema order)
  encodings NAME_HEX ENC,ENC...       (of every row group, unioned)
  dictionary NAME_HEX ARROW_TYPE      (the column read with read_dictionary)
  duckdb ROWS MIN_TIME MAX_TIME       (DuckDB's count and time range)
  row TIME [NAME_HEX=KIND:VALUE]...   (non-null values only)
KIND: f (the double's 8 bytes, little-endian, hex), i, u (decimal),
s (UTF-8 hex), b (0 or 1). Exits 3 when pyarrow is missing.
"""
import struct
import sys

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:
    print("pyarrow is not installed", file=sys.stderr)
    sys.exit(3)


def hx(s):
    return s.encode("utf-8").hex()


def main(path):
    f = pq.ParquetFile(path)
    md = f.metadata
    print(f"rows\t{md.num_rows}")
    print(f"row_groups\t{md.num_row_groups}")
    for k, v in (f.schema_arrow.metadata or {}).items():
        print(f"meta\t{k.decode()}\t{v.decode()}")
    table = f.read()
    for field in table.schema:
        print(f"column\t{hx(field.name)}\t{field.type}")
    for c in range(md.num_columns):
        name = md.schema.column(c).name
        encs = set()
        for g in range(md.num_row_groups):
            encs.update(md.row_group(g).column(c).encodings)
        print(f"encodings\t{hx(name)}\t{','.join(sorted(encs))}")
    strings = [fl.name for fl in table.schema if pa.types.is_string(fl.type)]
    if strings and md.num_rows > 0:
        dict_table = pq.read_table(path, read_dictionary=strings)
        for name in strings:
            print(f"dictionary\t{hx(name)}\t{dict_table.schema.field(name).type}")
    try:
        import duckdb

        q = "SELECT count(*), epoch_ns(min(time)), epoch_ns(max(time)) FROM read_parquet(?)"
        n, lo, hi = duckdb.execute(q, [path]).fetchone()
        lo, hi = (lo or 0), (hi or 0)
        print(f"duckdb\t{n}\t{lo}\t{hi}")
    except ImportError:
        pass
    columns = [(fl.name, fl.type, table.column(fl.name).to_pylist()) for fl in table.schema if fl.name != "time"]
    times = table.column("time").cast(pa.int64()).to_pylist()
    for r in range(table.num_rows):
        parts = []
        for name, ty, values in columns:
            v = values[r]
            if v is None:
                continue
            if pa.types.is_floating(ty):
                parts.append(f"{hx(name)}=f:{struct.pack('<d', v).hex()}")
            elif pa.types.is_boolean(ty):
                parts.append(f"{hx(name)}=b:{int(v)}")
            elif pa.types.is_unsigned_integer(ty):
                parts.append(f"{hx(name)}=u:{v}")
            elif pa.types.is_integer(ty):
                parts.append(f"{hx(name)}=i:{v}")
            else:
                parts.append(f"{hx(name)}=s:{hx(v)}")
        print("\t".join(["row", str(times[r])] + parts))


if __name__ == "__main__":
    main(sys.argv[1])
