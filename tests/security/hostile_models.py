"""hostile_models.py - write hostile model files (tests/security/sec_model_files.sh).

    python3 hostile_models.py KIND OUT_FILE

KIND:
  cnn_meta_only  a ~400-byte CNN file with metadata only: arch flatten,
                 30 x bn, dense2 on a 2048 x 2048 input, which once made the
                 loader allocate ~1 GB for parameters the file does not hold
  big_header     a header of 63 MiB of valid JSON (a million metadata keys),
                 which once peaked at 1.36 GB and left 1.04 GB held
  nested_header  a header of 900 KiB of nested arrays (under the header cap;
                 refused by the depth pre-scan)
  many_values    a header of ~1,000,000 bytes holding 333,000 empty objects
                 (under the header cap), which once cost ~75 MB of parser
                 memory before the file was refused
"""
import hashlib
import json
import struct
import sys

kind, out = sys.argv[1], sys.argv[2]


def write(header_text, data=b""):
    hb = header_text.encode()
    pad = (-len(hb)) % 8
    hb += b" " * pad
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        f.write(data)


sha = hashlib.sha256(b"").hexdigest()
common = {"format": "encore", "format_version": "1", "data_sha256": sha}
if kind == "cnn_meta_only":
    meta = dict(common, family="cnn", arch="flatten," + "bn," * 30 + "dense2",
                input_height="2048", input_width="2048", input_channels="1",
                input_max="255", input_scale="0.00392", input_offset="0")
    write(json.dumps({"__metadata__": meta}, separators=(",", ":")))
elif kind == "big_header":
    parts = ['{"__metadata__":{"format":"encore","format_version":"1","family":"mf","data_sha256":"%s"' % sha]
    size, i = len(parts[0]), 0
    while size < 63 * 1024 * 1024:
        p = ',"k%07d":"v"' % i
        parts.append(p)
        size += len(p)
        i += 1
    parts.append("}}")
    write("".join(parts))
elif kind == "nested_header":
    depth = 450 * 1024
    write('{"__metadata__":{"format":"encore"},"x":' + "[" * depth + "]" * depth + "}")
elif kind == "many_values":
    n = 333000
    write('{"__metadata__":{"format":"encore"},"x":[' + ",".join(["{}"] * n) + "]}")
else:
    sys.exit("unknown kind " + kind)
