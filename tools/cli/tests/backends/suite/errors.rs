//! Bad input to a backend gets a typed error, never a panic, and the model keeps working afterwards.

use m3rt::backend::{Backend, Inference};
use m3rt::bundle::Bundle;
use m3rt::Error;

use super::{scratch, UnderTest};
use crate::common::*;

/// Too little working memory, unknown tasks, wrong buffer sizes and non-finite inputs, then a good run
/// against onnxruntime.
pub fn bad_calls_are_typed_errors<D: UnderTest>() {
    let dir = model_dir("micro").unwrap();
    let bytes = bundle(&dir, D::PRIMARY);
    let bundle = Bundle::parse(&bytes).unwrap();
    let mut scratch = scratch::<D>(&bundle);
    let needed = scratch.len();

    let mut small = vec![0f32; needed - 1];
    let mut backend = D::backend(&mut small);
    assert!(matches!(backend.fits(&bundle), Err(Error::ScratchTooSmall { .. })));
    assert!(matches!(backend.load(bundle).map(|_| ()), Err(Error::ScratchTooSmall { .. })));

    let mut backend = D::backend(&mut scratch);
    assert_eq!(backend.fits(&bundle), Ok(()));
    let mut model = backend.load(bundle).unwrap();
    assert_eq!(model.select_task(2), Err(Error::UnknownTask { task: 2, tasks: 2 }));
    assert!(matches!(model.select_task_by_name("normals"), Err(Error::UnknownTask { .. })));
    assert_eq!(model.task(), 0, "a failed switch keeps the current task");

    let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
    let out_len = model.output_len().unwrap();
    let mut out = vec![0f32; out_len];
    let short = &input[..input.len() - 1];
    assert_eq!(
        model.run(short, &mut out),
        Err(Error::ShapeMismatch { what: "input", expected: input.len(), found: input.len() - 1 })
    );
    assert_eq!(
        model.run(&input, &mut out[..out_len - 3]),
        Err(Error::ShapeMismatch { what: "output", expected: out_len, found: out_len - 3 })
    );
    let mut poisoned = input.clone();
    poisoned[17] = f32::NAN;
    assert_eq!(model.run(&poisoned, &mut out), Err(Error::NonFiniteInput));
    poisoned[17] = f32::INFINITY;
    assert_eq!(model.run(&poisoned, &mut out), Err(Error::NonFiniteInput));

    // After all that, a good run still matches onnxruntime's golden output.
    model.run(&input, &mut out).unwrap();
    let (_, golden) = npy_f32(&dir.join("golden/semseg_0.npy"));
    let bound = D::bounds("micro", D::PRIMARY).reference.expect("the primary is held to the references");
    assert!(max_rel_err(&out, &golden) <= bound);
}
