//! The short account `m3rt convert --precision fixed16|int8` prints of what quantization did.

use m3rt::bundle::QuantReport;

use crate::inspect::{profile_text, tensor_name};

/// How many saturated tensors a warning names before it says "and N more".
const NAMED: usize = 8;

/// A summary of `report` for a bundle whose tasks are `tasks` (names, index order): one line on the
/// profile, one on the worst relative RMS error; then the warnings, one line each (saturated values,
/// with the tensors that hold them), empty when nothing saturated. Warnings, never errors: saturation
/// is a property of the model's values, and the bundle is written all the same.
pub fn quant_summary(report: &QuantReport, tasks: &[&str]) -> (String, Vec<String>) {
    let values: usize = report.tensors.iter().map(|t| t.elements).sum();
    let mut text =
        format!("quantized {} tensors ({values} values): {}\n", report.tensors.len(), profile_text(&report.profile));
    if let Some(w) = report.worst_relative_rms() {
        text.push_str(&format!(
            "worst relative RMS error {:.3e} ({}, {:?}, max abs error {:.3e}); {} values saturated\n",
            w.relative_rms_error(),
            tensor_name(w.key, tasks),
            w.dtype,
            w.max_abs_error,
            report.saturated()
        ));
    }
    let mut warnings = Vec::new();
    let saturated: Vec<_> = report.saturated_tensors().collect();
    if !saturated.is_empty() {
        let mut names: Vec<String> =
            saturated.iter().take(NAMED).map(|t| format!("{} ({})", tensor_name(t.key, tasks), t.saturated)).collect();
        if saturated.len() > NAMED {
            names.push(format!("and {} more", saturated.len() - NAMED));
        }
        warnings.push(format!(
            "{} values saturated (clamped to their format's range) in {} tensors: {}",
            report.saturated(),
            saturated.len(),
            names.join(", ")
        ));
    }
    (text, warnings)
}
