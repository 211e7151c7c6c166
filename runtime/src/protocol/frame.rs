//! Frames: `COBS(postcard(tag, message) ‖ CRC-32 LE) ‖ 0x00`, and [`Deframer`], which cuts a byte stream
//! into frames.

use serde::{Deserialize, Serialize};

use super::cobs;
use super::{MAX_FRAME, MAX_PAYLOAD};
use crate::bundle::layout::crc32;
use crate::{Error, Result};

/// Tag of a response to a frame whose own tag could not be read (bad CRC, bad COBS, too long).
pub const NO_TAG: u16 = 0;

/// Encodes `message` with `tag` as one frame, delimiter included, into `out`; returns the frame length.
/// Fails with [`Error::FrameTooLong`] when the frame would exceed [`MAX_FRAME`] or `out`.
pub fn encode<T: Serialize>(tag: u16, message: &T, out: &mut [u8]) -> Result<usize> {
    let mut payload = [0u8; MAX_PAYLOAD];
    let used = postcard::to_slice(&(tag, message), &mut payload)
        .map_err(|_| Error::FrameTooLong { len: MAX_PAYLOAD + 1, max: MAX_PAYLOAD })?
        .len();
    let crc = crc32(payload.get(..used).unwrap_or_default());
    let with_crc = used + 4;
    let crc_dst = payload.get_mut(used..with_crc).ok_or(Error::FrameTooLong { len: with_crc, max: MAX_PAYLOAD })?;
    crc_dst.copy_from_slice(&crc.to_le_bytes());
    let limit = out.len().min(MAX_FRAME);
    let body = out.get_mut(..limit.saturating_sub(1)).unwrap_or_default();
    let n = cobs::encode(payload.get(..with_crc).unwrap_or_default(), body)
        .map_err(|_| Error::FrameTooLong { len: cobs::max_encoded_len(with_crc) + 1, max: limit })?;
    let delim = out.get_mut(n).ok_or(Error::FrameTooLong { len: n + 1, max: limit })?;
    *delim = 0;
    Ok(n + 1)
}

/// Decodes one frame in place: `frame` holds the bytes between two delimiters (neither included). Returns
/// the tag and the message, which may borrow from `frame`. Same as [`parse`]`(`[`open`]`(frame)?)`.
///
/// Errors: [`Error::BadCobs`], [`Error::Truncated`] (fewer bytes than a CRC), [`Error::CrcMismatch`] with
/// part `"frame"`, [`Error::Malformed`] (the CRC holds but the message is unknown or has trailing bytes).
pub fn decode<'a, T: Deserialize<'a>>(frame: &'a mut [u8]) -> Result<(u16, T)> {
    parse(open(frame)?)
}

/// Decodes a payload returned by [`open`]: the tag and the message. Fails with [`Error::Malformed`] when
/// the message is unknown, cut short or followed by extra bytes.
pub fn parse<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<(u16, T)> {
    match postcard::take_from_bytes::<(u16, T)>(payload) {
        Ok((value, [])) => Ok(value),
        _ => Err(Error::Malformed { what: "message" }),
    }
}

/// The tag at the start of a payload returned by [`open`], even when the message after it is unknown.
pub fn tag_of(payload: &[u8]) -> Option<u16> {
    postcard::take_from_bytes::<u16>(payload).ok().map(|(tag, _)| tag)
}

/// COBS-decodes `frame` in place and checks its CRC; returns the payload without the CRC.
pub fn open(frame: &mut [u8]) -> Result<&[u8]> {
    let n = cobs::decode_in_place(frame)?;
    let decoded = frame.get(..n).unwrap_or_default();
    let Some(split) = n.checked_sub(4) else {
        return Err(Error::Truncated { needed: 4, have: n as u64 });
    };
    let (payload, crc) = decoded.split_at(split);
    let stored = u32::from_le_bytes(crc.try_into().map_err(|_| Error::Malformed { what: "frame CRC" })?);
    let computed = crc32(payload);
    if stored != computed {
        return Err(Error::CrcMismatch { part: "frame", stored, computed });
    }
    Ok(payload)
}

/// What one byte fed to a [`Deframer`] completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Feed {
    /// The frame is not complete yet (or an empty frame, a lone delimiter, was skipped).
    Pending,
    /// A frame of this many bytes is complete: [`Deframer::frame`] gives them.
    Frame(usize),
    /// A frame grew past [`MAX_FRAME`]; its bytes up to the next delimiter are dropped.
    TooLong,
}

/// Cuts a byte stream at 0x00 delimiters, holding at most one frame ([`MAX_FRAME`] bytes) in a fixed buffer.
pub struct Deframer {
    buf: [u8; MAX_FRAME],
    len: usize,
    overflow: bool,
    ready: bool,
}

impl Default for Deframer {
    fn default() -> Self {
        Self::new()
    }
}

impl Deframer {
    /// An empty deframer.
    pub const fn new() -> Self {
        Self { buf: [0; MAX_FRAME], len: 0, overflow: false, ready: false }
    }

    /// Feeds one byte. After [`Feed::Frame`], the frame stays readable through [`Deframer::frame`] until the
    /// next call.
    pub fn push(&mut self, byte: u8) -> Feed {
        if self.ready {
            self.ready = false;
            self.len = 0;
        }
        if byte == 0 {
            let was_overflow = core::mem::replace(&mut self.overflow, false);
            let len = core::mem::replace(&mut self.len, 0);
            return match (was_overflow, len) {
                (true, _) => Feed::TooLong,
                (false, 0) => Feed::Pending,
                (false, n) => {
                    self.len = n;
                    self.ready = true;
                    Feed::Frame(n)
                }
            };
        }
        if self.overflow {
            return Feed::Pending;
        }
        match self.buf.get_mut(self.len) {
            Some(slot) if self.len + 1 < MAX_FRAME => {
                *slot = byte;
                self.len += 1;
            }
            _ => self.overflow = true,
        }
        Feed::Pending
    }

    /// The frame completed by the last [`Feed::Frame`] (empty otherwise), to decode in place.
    pub fn frame(&mut self) -> &mut [u8] {
        let n = if self.ready { self.len } else { 0 };
        self.buf.get_mut(..n).unwrap_or_default()
    }
}
