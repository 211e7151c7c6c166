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

use m3rt::backend::Backend;
use m3rt::bundle::Bundle;
use m3rt_cli::convert::Precision;

/// A backend as the suite sees it: how to make one over working memory, and what it is held to.
pub trait UnderTest {
    /// The backend, over a borrowed scratch buffer.
    type Backend<'s>: Backend;
    /// Its [`Backend::name`].
    const NAME: &'static str;
    /// Largest `|ours − reference| / max(1, |reference|)` allowed against the f32 references
    /// (onnxruntime's goldens, tract, hand-worked values).
    const TOLERANCE: f32;
    /// The bundle precisions it loads; problems on other precisions are skipped for it.
    const PRECISIONS: &'static [Precision];
    /// The backend over `scratch`.
    fn backend(scratch: &mut [f32]) -> Self::Backend<'_>;
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

/// Whether `D` loads bundles of `precision`; says so when it does not.
pub fn loads<D: UnderTest>(precision: Precision) -> bool {
    let ok = D::PRECISIONS.contains(&precision);
    if !ok {
        eprintln!("skipping on {}: it does not load {precision:?} bundles", D::NAME);
    }
    ok
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
                fn micro_f16_weights_halve_the_bundle() {
                    $crate::suite::parity::check_f16::<D>("micro");
                }
                #[test]
                fn m3vit_t_f16_weights_halve_the_bundle() {
                    $crate::suite::parity::check_f16::<D>("m3vit-t");
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
                    $crate::suite::expert_reads::check::<D>("micro", m3rt_cli::convert::Precision::F32);
                    $crate::suite::expert_reads::check::<D>("micro", m3rt_cli::convert::Precision::F16);
                }
                #[test]
                fn m3vit_t_reads_only_picked_experts() {
                    $crate::suite::expert_reads::check::<D>("m3vit-t", m3rt_cli::convert::Precision::F32);
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
