"""Checks the hls4ml wheel's sha256 and extracts its ap_types headers (run by `cargo xtask csim`).

Arguments: WHEEL SHA256 COUNT OUT_DIR. Extracts only `hls4ml/templates/vivado/ap_types/`, which must hold
exactly COUNT files, into OUT_DIR (which must not exist yet) and prints their paths.
"""

import hashlib
import pathlib
import sys
import zipfile

PREFIX = "hls4ml/templates/vivado/ap_types/"


def main(wheel: str, sha256: str, count: str, out_dir: str) -> None:
    digest = hashlib.sha256(pathlib.Path(wheel).read_bytes()).hexdigest()
    if digest != sha256:
        sys.exit(f"{wheel}: sha256 {digest}, expected {sha256}")
    out = pathlib.Path(out_dir)
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.startswith(PREFIX) and not n.endswith("/")]
        if len(names) != int(count):
            sys.exit(f"{wheel}: {len(names)} files under {PREFIX}, expected {count}")
        out.mkdir(parents=True)
        for name in sorted(names):
            rel = pathlib.PurePosixPath(name[len(PREFIX):])
            if rel.is_absolute() or ".." in rel.parts:
                sys.exit(f"{wheel}: unsafe path {name}")
            dest = out.joinpath(*rel.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(z.read(name))
            print(f"  {rel}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
