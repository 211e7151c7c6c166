"""scenes/png.py: the PNG bytes decode back to the pixels (parsed here by hand), and the panels tile."""

import struct
import unittest
import zlib

import numpy as np

from scenes.png import depth_rgb, seg_rgb, sheet, write_png
from tests.helpers import tmpdir


class PngTest(unittest.TestCase):
    def test_round_trip(self):
        rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7
        path = tmpdir("png") / "a.png"
        write_png(rgb, path)
        data = path.read_bytes()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        n, tag = struct.unpack(">I4s", data[8:16])
        self.assertEqual(tag, b"IHDR")
        self.assertEqual(struct.unpack(">II", data[16:24]), (3, 2))        # width, height
        pos, idat = 8, b""
        while pos < len(data):
            n, tag = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + n]
            self.assertEqual(struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0], zlib.crc32(tag + body))
            if tag == b"IDAT":
                idat += body
            pos += 12 + n
        raw = zlib.decompress(idat)
        rows = [raw[r * 10 + 1:(r + 1) * 10] for r in range(2)]           # filter byte 0 then 3 pixels
        self.assertEqual(b"".join(rows), rgb.tobytes())

    def test_colours_and_sheet(self):
        self.assertEqual(seg_rgb(np.array([[0, 4]])).shape, (1, 2, 3))
        d = depth_rgb(np.array([[2.0, 20.0]]))
        self.assertEqual(d[0, 0, 0], 255)          # 2 m: brightest
        self.assertEqual(d[0, 1, 0], 0)            # 20 m (sky): black
        s = sheet([[np.zeros((2, 3, 3), np.uint8)] * 2], scale=2, gap=1)
        self.assertEqual(s.shape, (4, 13, 3))
        self.assertTrue((s[:, 6] == 255).all())    # the gap column


if __name__ == "__main__":
    unittest.main()
