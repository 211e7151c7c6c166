//! Bad input to the engine gets a typed error, never a panic, and the engine keeps working afterwards.

mod common;

use common::*;
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt::Error;
use m3rt_cli::convert::Precision;

#[test]
fn bad_calls_are_typed_errors() {
    let dir = model_dir("micro").unwrap();
    let bytes = bundle(&dir, Precision::F32);
    let bundle = Bundle::parse(&bytes).unwrap();
    let needed = bundle.scratch_floats();

    let mut small = vec![0f32; needed - 1];
    assert!(matches!(Engine::new(bundle, &mut small), Err(Error::ScratchTooSmall { .. })));

    let mut scratch = vec![0f32; needed];
    let mut engine = Engine::new(bundle, &mut scratch).unwrap();
    assert_eq!(engine.select_task(2), Err(Error::UnknownTask { task: 2, tasks: 2 }));
    assert!(matches!(engine.select_task_by_name("normals"), Err(Error::UnknownTask { .. })));
    assert_eq!(engine.task(), 0, "a failed switch keeps the current task");

    let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
    let out_len = engine.output_len().unwrap();
    let mut out = vec![0f32; out_len];
    let short = &input[..input.len() - 1];
    assert_eq!(
        engine.run(short, &mut out),
        Err(Error::ShapeMismatch { what: "input", expected: input.len(), found: input.len() - 1 })
    );
    assert_eq!(
        engine.run(&input, &mut out[..out_len - 3]),
        Err(Error::ShapeMismatch { what: "output", expected: out_len, found: out_len - 3 })
    );
    let mut poisoned = input.clone();
    poisoned[17] = f32::NAN;
    assert_eq!(engine.run(&poisoned, &mut out), Err(Error::NonFiniteInput));
    poisoned[17] = f32::INFINITY;
    assert_eq!(engine.run(&poisoned, &mut out), Err(Error::NonFiniteInput));

    // After all that, a good run still matches onnxruntime's golden output.
    engine.run(&input, &mut out).unwrap();
    let (_, golden) = npy_f32(&dir.join("golden/semseg_0.npy"));
    assert!(max_rel_err(&out, &golden) <= 1e-4);
}
