//! The problems, each generic over the backend description [`UnderTest`], and [`backend_suite!`], which
//! instantiates all of them as `#[test]`s for one backend.

pub mod errors;
pub mod expert_reads;
pub mod hand_worked;
pub mod multi_task;
pub mod no_alloc;
pub mod parity;
pub mod releasing;
pub mod task_switch;

use core::ops::Range;

use m3rt::backend::Backend;
use m3rt::bundle::Bundle;
use m3rt_cli::convert::Precision;

/// A backend as the suite sees it: how to make one over working memory, which bundle precisions it loads,
/// and what each of them is held to.
pub trait UnderTest {
    /// The backend, over a borrowed scratch buffer.
    type Backend<'s>: Backend;
    /// Its [`Backend::name`].
    const NAME: &'static str;
    /// The precision every problem runs on (parity, shared prefix, typed errors, task switches, the big
    /// model's expert reads).
    const PRIMARY: Precision;
    /// The further precisions it loads: the cheap problems run them too, and [`parity::check_extra`]
    /// compares each with the primary on the same backend.
    const EXTRA: &'static [Precision];
    /// What `precision` is held to on model `model` (`micro`, `tiny-light`, `sparse-route`, `m3vit-t`).
    fn bounds(model: &str, precision: Precision) -> Bounds;
    /// Largest `|ours − expected| / max(1, |expected|)` on the hand-worked models of `precision`, whose
    /// expected values are exact in f16 and in any fixed-point format with 3 fraction bits.
    fn hand_worked_bound(precision: Precision) -> f32;
    /// The experts the backend's own router kept for `task` on `input`, `[moe layers, T, k]` as the
    /// exporter's `route_<task>_<i>.npy`, for a backend whose routing may differ from the f32 reference's
    /// near ties (fixed point); `None` when its routing must be the reference's exactly.
    fn own_routes(bundle: &Bundle<'_>, task: u32, input: &[f32]) -> Option<Vec<i32>>;
    /// The backend over `scratch`.
    fn backend(scratch: &mut [f32]) -> Self::Backend<'_>;
}

/// What one bundle precision of a backend is held to on one model, against the independent references
/// (onnxruntime's goldens, tract, the exporter's NumPy routing).
#[derive(Clone, Debug)]
pub struct Bounds {
    /// Largest `|ours − reference| / max(1, |reference|)` against onnxruntime's goldens and tract, every
    /// task and golden input; `None`: this precision is not compared with the references, only with the
    /// primary's run ([`Bounds::against_primary`]).
    pub reference: Option<f32>,
    /// Smallest share of an argmax task's pixels whose class (argmax over channels) is onnxruntime's;
    /// `None`: not checked.
    pub argmax_agreement: Option<f64>,
    /// Largest share of routing choices (MoE layer, token, kept expert) not among the experts the NumPy
    /// reference kept for that token (only a backend with [`UnderTest::own_routes`] can differ).
    pub route_flips: f64,
    /// For an extra precision, its run against the primary's on the same backend.
    pub against_primary: Option<AgainstPrimary>,
}

/// An extra precision's bundle and outputs against the primary's, on the same backend and inputs.
#[derive(Clone, Debug)]
pub struct AgainstPrimary {
    /// Allowed size of its bundle as a share of the primary's.
    pub size_ratio: Range<f64>,
    /// Largest relative RMS error `‖ours − primary‖ / ‖primary‖` per task (strictly below).
    pub rel_rms: f64,
    /// Smallest share of an argmax task's pixels whose class is the primary's.
    pub argmax_agreement: f64,
}

/// Every precision `D` loads, the primary first.
pub fn precisions<D: UnderTest>() -> impl Iterator<Item = Precision> {
    core::iter::once(D::PRIMARY).chain(D::EXTRA.iter().copied())
}

/// Working memory for `bundle` on `D`, as much as the backend asks for ([`Backend::scratch_words`]).
pub fn scratch<D: UnderTest>(bundle: &Bundle<'_>) -> Vec<f32> {
    vec![0f32; D::backend(&mut []).scratch_words(bundle)]
}

/// Working memory for [`m3rt::backend::Inference::run_tasks`] on `D`
/// ([`Backend::multi_task_scratch_words`]).
pub fn multi_task_scratch<D: UnderTest>(bundle: &Bundle<'_>) -> Vec<f32> {
    vec![0f32; D::backend(&mut []).multi_task_scratch_words(bundle)]
}

/// The share of pixels whose class (argmax over the `[C, H·W]` channels, ties to the lower channel) is the
/// same in `a` and `b`: `(agreeing, pixels)`.
pub fn argmax_agreement(a: &[f32], b: &[f32], channels: usize) -> (usize, usize) {
    let hw = a.len() / channels;
    let class =
        |y: &[f32], i: usize| (0..channels).fold(0, |best, c| if y[c * hw + i] > y[best * hw + i] { c } else { best });
    ((0..hw).filter(|&i| class(a, i) == class(b, i)).count(), hw)
}

/// Every problem of the suite as a `#[test]`, for the backend described by `$desc` (an [`UnderTest`] in
/// the calling module), in a module `$module` (test names `$module::<problem>::<test>`).
macro_rules! backend_suite {
    ($module:ident, $desc:ident) => {
        mod $module {
            type D = super::$desc;

            #[test]
            fn describes_its_backend() {
                use m3rt::backend::Backend;
                use $crate::suite::UnderTest;
                assert_eq!(D::backend(&mut []).name(), D::NAME);
                assert!(!D::EXTRA.contains(&D::PRIMARY), "the primary precision is not an extra one");
                assert!(D::bounds("micro", D::PRIMARY).reference.is_some(), "the primary is held to the references");
                for &p in D::EXTRA {
                    assert!(D::bounds("micro", p).against_primary.is_some(), "{p:?} is compared with the primary");
                }
            }

            mod parity {
                use super::D;
                #[test]
                fn micro_matches_onnxruntime_and_tract() {
                    $crate::suite::parity::check_model::<D>("micro");
                }
                #[test]
                fn tiny_light_head_matches_onnxruntime_and_tract() {
                    $crate::suite::parity::check_model::<D>("tiny-light");
                }
                #[test]
                fn sparse_route_top1_matches_onnxruntime_and_tract() {
                    $crate::suite::parity::check_model::<D>("sparse-route");
                }
                #[test]
                fn m3vit_t_matches_onnxruntime_and_tract() {
                    $crate::suite::parity::check_model::<D>("m3vit-t");
                }
                #[test]
                fn micro_extra_precisions_against_the_primary() {
                    $crate::suite::parity::check_extra::<D>("micro");
                }
                #[test]
                fn m3vit_t_extra_precisions_against_the_primary() {
                    $crate::suite::parity::check_extra::<D>("m3vit-t");
                }
            }

            mod hand_worked {
                use super::D;
                #[test]
                fn zero_last_convolution_outputs_its_bias() {
                    $crate::suite::hand_worked::zero_last_convolution_outputs_its_bias::<D>();
                }
            }

            mod multi_task {
                use super::D;
                #[test]
                fn micro_tasks_share_the_prefix() {
                    $crate::suite::multi_task::check::<D>("micro");
                }
                #[test]
                fn tiny_light_three_tasks_share_the_prefix() {
                    $crate::suite::multi_task::check::<D>("tiny-light");
                }
                #[test]
                fn bad_calls_are_typed_errors() {
                    $crate::suite::multi_task::bad_calls_are_typed_errors::<D>();
                }
            }

            mod no_alloc {
                use super::D;
                #[test]
                fn select_task_and_run_allocate_nothing() {
                    $crate::suite::no_alloc::select_task_and_run_allocate_nothing::<D>();
                }
            }

            mod task_switch {
                use super::D;
                #[test]
                fn select_task_reads_no_weight_byte() {
                    $crate::suite::task_switch::select_task_reads_no_weight_byte::<D>();
                }
            }

            mod expert_reads {
                use super::D;
                #[test]
                fn micro_reads_only_picked_experts() {
                    for precision in $crate::suite::precisions::<D>() {
                        $crate::suite::expert_reads::check::<D>("micro", precision);
                    }
                }
                #[test]
                fn m3vit_t_reads_only_picked_experts() {
                    $crate::suite::expert_reads::check::<D>("m3vit-t", <D as $crate::suite::UnderTest>::PRIMARY);
                }
                #[test]
                fn unpicked_experts_are_never_read() {
                    $crate::suite::expert_reads::unpicked_experts_are_never_read::<D>();
                }
            }

            mod errors {
                use super::D;
                #[test]
                fn bad_calls_are_typed_errors() {
                    $crate::suite::errors::bad_calls_are_typed_errors::<D>();
                }
            }

            mod releasing {
                use super::D;
                #[test]
                fn releasing_run_gives_the_same_bits() {
                    $crate::suite::releasing::same_bits_and_only_tensor_data::<D>();
                }
            }
        }
    };
}
pub(crate) use backend_suite;
