//! The postcard header: its wire struct (the field order is the format), the task table that decodes
//! without an allocator, and the checks of the hyperparameters and tasks.

use core::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{MAX_IMAGE_SIDE, MAX_OUT_CHANNELS, MAX_WIDTH};
use crate::model::{HeadKind, Hyper, PostProcess, TaskInfo, MAX_TASKS, MAX_TASK_NAME};
use crate::{Error, Result};

/// The header as encoded. Field order and types are the wire format: changing either bumps
/// [`FORMAT_VERSION`](super::FORMAT_VERSION).
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(crate) struct HeaderWire<'a> {
    pub image_h: u32,
    pub image_w: u32,
    pub in_chans: u32,
    pub patch: u32,
    pub dim: u32,
    pub depth: u32,
    pub heads: u32,
    pub mlp_hidden: u32,
    pub experts: u32,
    pub top_k: u32,
    pub expert_hidden: u32,
    pub moe_blocks: u64,
    pub head_kind: u8,
    pub head_width: u32,
    pub ln_eps: f32,
    pub norm_mean: [f32; 3],
    pub norm_std: [f32; 3],
    pub tasks: u32,
    #[serde(borrow)]
    pub task_table: TaskTable<'a>,
    pub tensor_count: u32,
    pub scratch_floats: u64,
}

/// One task as encoded.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskWire<'a> {
    pub name: &'a str,
    pub out_channels: u32,
    pub post: u8,
}

/// At most [`MAX_TASKS`] tasks, encoded as a postcard sequence (varint length, then the tasks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct TaskTable<'a> {
    items: [Option<TaskWire<'a>>; MAX_TASKS],
    len: usize,
}

impl<'a> TaskTable<'a> {
    /// Appends a task; `false` when the table is full.
    pub fn push(&mut self, t: TaskWire<'a>) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(t);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The tasks in order.
    pub fn iter(&self) -> impl Iterator<Item = &TaskWire<'a>> {
        self.items.iter().take(self.len).flatten()
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Serialize for TaskTable<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len))?;
        for t in self.iter() {
            seq.serialize_element(t)?;
        }
        seq.end()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TaskTable<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V<'a>(core::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = TaskTable<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "at most {MAX_TASKS} tasks")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> core::result::Result<Self::Value, A::Error> {
                let mut table = TaskTable::default();
                while let Some(t) = seq.next_element::<TaskWire<'de>>()? {
                    if !table.push(t) {
                        return Err(de::Error::invalid_length(MAX_TASKS + 1, &self));
                    }
                }
                Ok(table)
            }
        }
        d.deserialize_seq(V(core::marker::PhantomData))
    }
}

impl<'a> HeaderWire<'a> {
    /// The header of a model (the task table is filled by the caller).
    #[cfg(feature = "alloc")]
    pub fn new(h: &Hyper, tensor_count: u32, scratch_floats: u64) -> Self {
        HeaderWire {
            image_h: h.image_h,
            image_w: h.image_w,
            in_chans: h.in_chans,
            patch: h.patch,
            dim: h.dim,
            depth: h.depth,
            heads: h.heads,
            mlp_hidden: h.mlp_hidden,
            experts: h.experts,
            top_k: h.top_k,
            expert_hidden: h.expert_hidden,
            moe_blocks: h.moe_blocks,
            head_kind: h.head_kind as u8,
            head_width: h.head_width,
            ln_eps: h.ln_eps,
            norm_mean: h.norm_mean,
            norm_std: h.norm_std,
            tasks: h.tasks,
            task_table: TaskTable::default(),
            tensor_count,
            scratch_floats,
        }
    }

    /// The hyperparameters, checked with [`check_hyper`].
    pub fn hyper(&self) -> Result<Hyper> {
        let head_kind = HeadKind::from_u8(self.head_kind).ok_or(Error::Malformed { what: "head kind code" })?;
        let h = Hyper {
            image_h: self.image_h,
            image_w: self.image_w,
            in_chans: self.in_chans,
            patch: self.patch,
            dim: self.dim,
            depth: self.depth,
            heads: self.heads,
            mlp_hidden: self.mlp_hidden,
            experts: self.experts,
            top_k: self.top_k,
            expert_hidden: self.expert_hidden,
            moe_blocks: self.moe_blocks,
            head_kind,
            head_width: self.head_width,
            ln_eps: self.ln_eps,
            norm_mean: self.norm_mean,
            norm_std: self.norm_std,
            tasks: self.tasks,
        };
        check_hyper(&h)?;
        Ok(h)
    }

    /// The decoded tasks, checked with [`check_task`] and for unique names, in `out`.
    pub fn tasks(&self, out: &mut [Option<TaskInfo<'a>>; MAX_TASKS]) -> Result<()> {
        if u32::try_from(self.task_table.len()).ok() != Some(self.tasks) {
            return Err(Error::Inconsistent { what: "task table length differs from hyper.tasks" });
        }
        for (i, t) in self.task_table.iter().enumerate() {
            let post = PostProcess::from_u8(t.post).ok_or(Error::Malformed { what: "post-process code" })?;
            let info = TaskInfo { name: t.name, out_channels: t.out_channels, post };
            check_task(&info)?;
            if self.task_table.iter().take(i).any(|o| o.name == t.name) {
                return Err(Error::Inconsistent { what: "duplicate task name" });
            }
            let slot = out.get_mut(i).ok_or(Error::Inconsistent { what: "too many tasks" })?;
            *slot = Some(info);
        }
        Ok(())
    }
}

/// Checks the reader limits (so that no size computed from `h` overflows), then [`Hyper::check`].
pub(crate) fn check_hyper(h: &Hyper) -> Result<()> {
    let limits = [
        (h.image_h, MAX_IMAGE_SIDE, "image_h"),
        (h.image_w, MAX_IMAGE_SIDE, "image_w"),
        (h.patch, MAX_WIDTH, "patch"),
        (h.dim, MAX_WIDTH, "dim"),
        (h.heads, MAX_WIDTH, "heads"),
        (h.mlp_hidden, MAX_WIDTH, "mlp_hidden"),
        (h.expert_hidden, MAX_WIDTH, "expert_hidden"),
        (h.head_width, MAX_WIDTH, "head_width"),
    ];
    for (v, max, field) in limits {
        if v > max {
            return Err(Error::BadHyper { field });
        }
    }
    h.check().map_err(|field| Error::BadHyper { field })
}

/// Checks one task: name non-empty and at most [`MAX_TASK_NAME`] bytes, 1..=[`MAX_OUT_CHANNELS`]
/// output channels.
pub(crate) fn check_task(t: &TaskInfo<'_>) -> Result<()> {
    if t.name.is_empty() || t.name.len() > MAX_TASK_NAME {
        return Err(Error::Inconsistent { what: "task name empty or longer than MAX_TASK_NAME bytes" });
    }
    if t.out_channels == 0 || t.out_channels > MAX_OUT_CHANNELS {
        return Err(Error::Inconsistent { what: "task out_channels is 0 or above MAX_OUT_CHANNELS" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_table_is_a_postcard_sequence_of_at_most_max_tasks() {
        let t = TaskWire { name: "ab", out_channels: 300, post: 2 };
        let mut buf = [0u8; 512];
        // A table encodes as the slice of its tasks: varint length, then each task.
        let mut table = TaskTable::default();
        assert!(table.push(t) && table.push(t));
        let enc = postcard::to_slice(&table, &mut buf).unwrap().to_vec();
        // 2 tasks; each: name length 2, "ab", out_channels 300 = 0xAC 0x02, post 2.
        assert_eq!(enc, [2, 2, b'a', b'b', 0xAC, 0x02, 2, 2, b'a', b'b', 0xAC, 0x02, 2]);
        assert_eq!(postcard::to_slice(&[t, t][..], &mut buf).unwrap(), &enc[..]);
        assert_eq!(postcard::from_bytes::<TaskTable<'_>>(&enc), Ok(table));

        let full = [t; MAX_TASKS + 1];
        let enc = postcard::to_slice(&full[..MAX_TASKS], &mut buf).unwrap().to_vec();
        assert_eq!(postcard::from_bytes::<TaskTable<'_>>(&enc).map(|t| t.len()), Ok(MAX_TASKS));
        let enc = postcard::to_slice(&full[..], &mut buf).unwrap().to_vec();
        assert!(postcard::from_bytes::<TaskTable<'_>>(&enc).is_err());
    }
}
