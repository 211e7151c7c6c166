//! Consistent Overhead Byte Stuffing: removes every 0x00 from a payload so that 0x00 can delimit frames.
//!
//! Each block is a code byte `n` (1..=255) followed by `n - 1` non-zero bytes; a block with `n < 255` that is
//! not the last one stands for those bytes followed by a zero. A run of 254 non-zero bytes ends its block
//! with code 255 and no implied zero; no empty block follows a full one at the end of the payload.

use crate::{Error, Result};

/// The largest encoded size of a payload of `len` bytes (without the delimiter).
pub const fn max_encoded_len(len: usize) -> usize {
    len + len / 254 + 1
}

/// Encodes `src` into `dst` and returns the number of bytes written (never containing 0x00).
/// Fails with [`Error::FrameTooLong`] when `dst` is shorter than [`max_encoded_len`].
pub fn encode(src: &[u8], dst: &mut [u8]) -> Result<usize> {
    if dst.len() < max_encoded_len(src.len()) {
        return Err(Error::FrameTooLong { len: max_encoded_len(src.len()), max: dst.len() });
    }
    let mut code_at = 0;
    let mut out = 1;
    let mut code = 1u8;
    for (i, &b) in src.iter().enumerate() {
        if b == 0 {
            put(dst, code_at, code);
            code_at = out;
            out += 1;
            code = 1;
            continue;
        }
        put(dst, out, b);
        out += 1;
        code += 1;
        if code == 0xFF && i + 1 < src.len() {
            put(dst, code_at, code);
            code_at = out;
            out += 1;
            code = 1;
        }
    }
    put(dst, code_at, code);
    Ok(out)
}

/// Decodes `buf` in place (the encoded bytes of one frame, without the delimiter) and returns the decoded
/// length. Fails with [`Error::BadCobs`] on a zero byte or a block running past the end.
pub fn decode_in_place(buf: &mut [u8]) -> Result<usize> {
    let n = buf.len();
    let (mut read, mut write) = (0, 0);
    while let Some(&code) = buf.get(read) {
        if code == 0 {
            return Err(Error::BadCobs);
        }
        read += 1;
        let run = usize::from(code) - 1;
        let end = read + run;
        if end > n {
            return Err(Error::BadCobs);
        }
        if buf.get(read..end).is_some_and(|r| r.contains(&0)) {
            return Err(Error::BadCobs);
        }
        buf.copy_within(read..end, write);
        write += run;
        read = end;
        if code != 0xFF && read < n {
            // `write < read` always holds here: each block's code byte was consumed without output.
            put(buf, write, 0);
            write += 1;
        }
    }
    Ok(write)
}

/// Stores `b` at `i` (callers guarantee `i` is in range; out of range is ignored, never a panic).
fn put(buf: &mut [u8], i: usize, b: u8) {
    if let Some(slot) = buf.get_mut(i) {
        *slot = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(src: &[u8], expected: &[u8]) {
        let mut enc = [0u8; 600];
        let n = encode(src, &mut enc).unwrap();
        assert_eq!(&enc[..n], expected);
        let mut dec = enc;
        let m = decode_in_place(&mut dec[..n]).unwrap();
        assert_eq!(&dec[..m], src);
    }

    /// The examples of Cheshire and Baker's paper as usually tabulated (hand-checked).
    #[test]
    fn known_encodings() {
        round(&[], &[0x01]);
        round(&[0x00], &[0x01, 0x01]);
        round(&[0x00, 0x00], &[0x01, 0x01, 0x01]);
        round(&[0x11, 0x22, 0x00, 0x33], &[0x03, 0x11, 0x22, 0x02, 0x33]);
        round(&[0x11, 0x22, 0x33, 0x44], &[0x05, 0x11, 0x22, 0x33, 0x44]);
        round(&[0x11, 0x00, 0x00, 0x00], &[0x02, 0x11, 0x01, 0x01, 0x01]);
        let run: [u8; 254] = core::array::from_fn(|i| i as u8 + 1);
        let mut expected = [0u8; 255];
        expected[0] = 0xFF;
        expected[1..].copy_from_slice(&run);
        round(&run, &expected);
        let mut run255 = [0u8; 255];
        run255[..254].copy_from_slice(&run);
        run255[254] = 0xFF;
        let mut expected255 = [0u8; 257];
        expected255[..255].copy_from_slice(&expected);
        expected255[255..].copy_from_slice(&[0x02, 0xFF]);
        round(&run255, &expected255);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(decode_in_place(&mut [0x03, 0x11]), Err(Error::BadCobs));
        assert_eq!(decode_in_place(&mut [0x02, 0x00]), Err(Error::BadCobs));
        assert_eq!(decode_in_place(&mut [0x00]), Err(Error::BadCobs));
        assert!(encode(&[1, 2, 3], &mut [0u8; 3]).is_err());
    }
}
