//! Reading the fixed input from a NumPy `.npy` file (`<f4`, C order), the form of the model's golden inputs.
//! Used at build time by the firmwares' `build.rs` and by the host reference; no allocation.

/// Why an `.npy` file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyError {
    /// The magic `\x93NUMPY` is missing.
    NotNpy,
    /// The file ends before its header or data.
    Truncated,
    /// The header is not a little-endian f32 array in C order.
    NotF32,
}

impl core::fmt::Display for NpyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            NpyError::NotNpy => "not an .npy file (magic missing)",
            NpyError::Truncated => ".npy file truncated",
            NpyError::NotF32 => ".npy array is not little-endian f32 in C order",
        })
    }
}

/// The data bytes (little-endian f32, a multiple of 4 long) of an `.npy` file of format version 1, 2 or 3.
pub fn f32_data(file: &[u8]) -> Result<&[u8], NpyError> {
    if file.get(..6) != Some(b"\x93NUMPY".as_slice()) {
        return Err(NpyError::NotNpy);
    }
    let major = *file.get(6).ok_or(NpyError::Truncated)?;
    let (header_len, header_start) = if major == 1 {
        let b = file.get(8..10).ok_or(NpyError::Truncated)?;
        (usize::from(u16::from_le_bytes([b[0], b[1]])), 10)
    } else {
        let b = file.get(8..12).ok_or(NpyError::Truncated)?;
        (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
    };
    let header = file.get(header_start..header_start + header_len).ok_or(NpyError::Truncated)?;
    let has = |needle: &[u8]| header.windows(needle.len()).any(|w| w == needle);
    if !has(b"'descr': '<f4'") || !has(b"'fortran_order': False") {
        return Err(NpyError::NotF32);
    }
    let data = &file[header_start + header_len..];
    if !data.len().is_multiple_of(4) {
        return Err(NpyError::Truncated);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// A version-1 file holding `values`, laid out by hand as NumPy writes it (header padded to 64 bytes).
    fn npy_v1(descr: &str, values: &[f32]) -> Vec<u8> {
        let mut header =
            std::format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({},), }}", values.len()).into_bytes();
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(b' ');
        }
        header.push(b'\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(&header);
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    #[test]
    fn reads_little_endian_f32() {
        let file = npy_v1("<f4", &[1.0, -2.5]);
        assert_eq!(f32_data(&file), Ok([0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0].as_slice()));
    }

    #[test]
    fn refuses_other_files() {
        assert_eq!(f32_data(b"PK\x03\x04"), Err(NpyError::NotNpy));
        assert_eq!(f32_data(b"\x93NUMPY\x01\x00\xff"), Err(NpyError::Truncated));
        assert_eq!(f32_data(&npy_v1("<f8", &[1.0])), Err(NpyError::NotF32));
        let mut cut = npy_v1("<f4", &[1.0]);
        cut.pop();
        assert_eq!(f32_data(&cut), Err(NpyError::Truncated));
    }
}
