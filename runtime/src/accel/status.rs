//! The codes the IP writes to its `status` output (`docs/accel-ip.md`, "Status codes").

/// The result of one run of the IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Status {
    /// The run completed.
    Ok = 0,
    /// The model descriptor's magic or version is wrong.
    BadMagic = 1,
    /// The model's profile is not the one the IP was built for.
    Profile = 2,
    /// A hyperparameter exceeds the IP's build-time maxima (`hls/include/m3rt_config.h`).
    TooLarge = 3,
    /// `work_words` is below what the model needs.
    WorkTooSmall = 4,
    /// The model needs something the IP does not do (e.g. a resize factor that is not a power of two).
    Unsupported = 5,
}

impl Status {
    /// Every code, in increasing order.
    pub const ALL: [Status; 6] =
        [Status::Ok, Status::BadMagic, Status::Profile, Status::TooLarge, Status::WorkTooSmall, Status::Unsupported];

    /// Decodes the word the IP wrote; `None` for a code this runtime does not know.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => Status::Ok,
            1 => Status::BadMagic,
            2 => Status::Profile,
            3 => Status::TooLarge,
            4 => Status::WorkTooSmall,
            5 => Status::Unsupported,
            _ => return None,
        })
    }

    /// The code's name in the doc and in `m3rt_regs.h` (`M3RT_STATUS_<name>`).
    pub const fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadMagic => "BAD_MAGIC",
            Status::Profile => "PROFILE",
            Status::TooLarge => "TOO_LARGE",
            Status::WorkTooSmall => "WORK_TOO_SMALL",
            Status::Unsupported => "UNSUPPORTED",
        }
    }

    /// What the code means (one line).
    pub const fn doc(self) -> &'static str {
        match self {
            Status::Ok => "the run completed",
            Status::BadMagic => "the model descriptor's magic or version is wrong",
            Status::Profile => "the model's profile is not the one the IP was built for",
            Status::TooLarge => "a hyperparameter exceeds the IP's build-time maxima (m3rt_config.h)",
            Status::WorkTooSmall => "work_words is below what the model needs",
            Status::Unsupported => "the model needs something the IP does not do",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(*s as u32, i as u32);
            assert_eq!(Status::from_u32(i as u32), Some(*s));
        }
        assert_eq!(Status::from_u32(6), None);
        assert_eq!(Status::from_u32(u32::MAX), None);
    }
}
