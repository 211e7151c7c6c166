//! The backend seam on the CPU engine: the working memory it asks for, the checks `fits` and `load` share
//! with `Engine::new`, and the `Inference` default methods (what a backend without a shared prefix or a
//! stage-by-stage release gets) against the engine's own versions of them.

mod bundle_common;

use core::ops::Range;

use bundle_common::{small_hyper, SMALL_TASKS};
use m3rt::backend::{Backend, Counters, CpuBackend, Inference};
use m3rt::bundle::{AlignedBytes, Bundle, BundleWriter, Dtype};
use m3rt::engine::{scratch_floats, Engine};
use m3rt::model::{self, Hyper};
use m3rt::Error;

/// The bundle tests' small model (three tasks, the PUP head) as `dtype`, stating `stated` scratch words
/// (`None`: what the engine needs); values in ±0.1.
fn bundle(h: &Hyper, dtype: Dtype, stated: Option<u64>) -> AlignedBytes {
    let max_c = SMALL_TASKS.iter().map(|t| t.1).max().unwrap();
    let needed = scratch_floats(h, max_c, dtype == Dtype::F16);
    let mut w = BundleWriter::new(*h, stated.unwrap_or(needed)).unwrap();
    for i in 0..model::tensor_count(h) {
        let key = model::canonical_key(h, i).unwrap();
        let shape = model::expected_shape(h, key, SMALL_TASKS[key.task as usize].1);
        let data: Vec<f32> =
            (0..shape.numel() as usize).map(|j| ((i as usize * 7 + j * 3) % 23) as f32 / 110.0 - 0.1).collect();
        w.add_tensor(key, shape.as_slice(), &data, dtype).unwrap();
    }
    for (name, c, post) in SMALL_TASKS {
        w.add_task(name, *c, *post).unwrap();
    }
    AlignedBytes::from_slice(&w.finish().unwrap())
}

/// An input image for `h`.
fn image(h: &Hyper) -> Vec<f32> {
    (0..3 * (h.image_h * h.image_w) as usize).map(|i| (i % 13) as f32 / 13.0).collect()
}

#[test]
fn the_cpu_backend_asks_for_the_engines_scratch_layout() {
    let h = small_hyper();
    for (dtype, widens) in [(Dtype::F32, false), (Dtype::F16, true)] {
        let bytes = bundle(&h, dtype, None);
        let b = Bundle::parse(&bytes).unwrap();
        let probe = CpuBackend::new(&mut []);
        assert_eq!(probe.name(), "cpu");
        let words = probe.scratch_words(&b);
        assert_eq!(words as u64, scratch_floats(&h, b.max_out_channels(), widens));
        assert_eq!(words, b.scratch_floats(), "the converter states the same size");
        let mut scratch = vec![0f32; words];
        let engine = Engine::new(b, &mut scratch).unwrap();
        assert_eq!(probe.multi_task_scratch_words(&b), engine.multi_task_scratch_floats());
        assert_eq!(probe.multi_task_scratch_words(&b), words + (h.tokens() * h.dim) as usize);
    }
}

#[test]
fn fits_and_load_make_the_checks_engine_new_makes() {
    let h = small_hyper();
    let bytes = bundle(&h, Dtype::F32, None);
    let b = Bundle::parse(&bytes).unwrap();
    let needed = CpuBackend::new(&mut []).scratch_words(&b);
    let mut small = vec![0f32; needed - 1];
    let mut backend = CpuBackend::new(&mut small);
    let too_small = Error::ScratchTooSmall { needed: needed * 4, have: (needed - 1) * 4 };
    assert_eq!(backend.fits(&b), Err(too_small));
    assert_eq!(backend.load(b).map(|_| ()), Err(too_small));
    let mut scratch = vec![0f32; needed];
    let mut backend = CpuBackend::new(&mut scratch);
    assert_eq!(backend.fits(&b), Ok(()));
    assert_eq!(backend.load(b).map(|m| m.task()), Ok(0));

    // A bundle stating less scratch than its model needs is refused by both, whatever memory is given.
    let lying = bundle(&h, Dtype::F32, Some(needed as u64 - 1));
    let b = Bundle::parse(&lying).unwrap();
    let inconsistent = Error::Inconsistent { what: "stated scratch size is smaller than the model needs" };
    let mut backend = CpuBackend::new(&mut scratch);
    assert_eq!(backend.fits(&b), Err(inconsistent));
    assert_eq!(backend.load(b).map(|_| ()), Err(inconsistent));
}

/// The engine behind only the methods `Inference` requires, so every default method is the one used.
struct Plain<'e, 'b, 's>(&'e mut Engine<'b, 's>);

impl Inference for Plain<'_, '_, '_> {
    fn bundle(&self) -> &Bundle<'_> {
        self.0.bundle()
    }
    fn select_task(&mut self, task: u32) -> m3rt::Result<()> {
        self.0.select_task(task)
    }
    fn task(&self) -> u32 {
        self.0.task()
    }
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> m3rt::Result<()> {
        self.0.run(input, output)
    }
    fn counters(&self) -> &Counters {
        self.0.counters()
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn default_methods_give_what_the_engines_own_give() {
    let h = small_hyper();
    let bytes = bundle(&h, Dtype::F32, None);
    let b = Bundle::parse(&bytes).unwrap();
    let mut scratch = vec![0f32; CpuBackend::new(&mut []).multi_task_scratch_words(&b)];
    let mut engine = Engine::new(b, &mut scratch).unwrap();
    let input = image(&h);
    let len = |t: u32| b.task(t).unwrap().out_channels as usize * (h.image_h * h.image_w) as usize;
    let tasks = [2, 0, 1, 2];
    let mut shared: Vec<Vec<f32>> = tasks.iter().map(|&t| vec![0f32; len(t)]).collect();
    let mut views: Vec<&mut [f32]> = shared.iter_mut().map(|o| o.as_mut_slice()).collect();
    engine.run_tasks(&input, &tasks, &mut views).unwrap();
    let mut engine_spans = Vec::new();
    engine.select_task(1).unwrap();
    let mut staged = vec![0f32; len(1)];
    engine.run_releasing(&input, &mut staged, &mut |s| engine_spans.push(s)).unwrap();
    let runs = engine.counters().runs;

    let mut plain = Plain(&mut engine);
    assert_eq!((plain.input_len(), plain.output_len()), (3 * (h.image_h * h.image_w) as usize, Ok(len(1))));
    assert_eq!(plain.select_task_by_name("normals"), Ok(2));
    assert!(matches!(plain.select_task_by_name("edges"), Err(Error::UnknownTask { .. })));
    assert_eq!(plain.task(), 2, "a failed switch keeps the current task");
    plain.select_task(1).unwrap();

    // One task at a time: the same bits as the shared prefix, the selected task kept.
    let mut separate: Vec<Vec<f32>> = tasks.iter().map(|&t| vec![f32::NAN; len(t)]).collect();
    let mut views: Vec<&mut [f32]> = separate.iter_mut().map(|o| o.as_mut_slice()).collect();
    plain.run_tasks(&input, &tasks, &mut views).unwrap();
    for (s, p) in shared.iter().zip(&separate) {
        assert_eq!(bits(s), bits(p));
    }
    assert_eq!(plain.task(), 1);
    assert_eq!(plain.counters().runs, runs + tasks.len() as u64);

    // Every argument is checked before anything runs, with the engine's errors.
    let (mut a, mut c) = (vec![0f32; len(0)], vec![0f32; len(1)]);
    let before = plain.counters().runs;
    let err = plain.run_tasks(&input, &[0, 1], &mut [&mut a]).unwrap_err();
    assert_eq!(err, Error::ShapeMismatch { what: "outputs (one per task)", expected: 2, found: 1 });
    let err = plain.run_tasks(&input, &[0, 9], &mut [&mut a, &mut c]).unwrap_err();
    assert_eq!(err, Error::UnknownTask { task: 9, tasks: 3 });
    let err = plain.run_tasks(&input, &[0, 0], &mut [&mut a, &mut c]).unwrap_err();
    assert_eq!(err, Error::ShapeMismatch { what: "output", expected: len(0), found: len(1) });
    let err = plain.run_tasks(&input[1..], &[0], &mut [&mut a]).unwrap_err();
    assert_eq!(err, Error::ShapeMismatch { what: "input", expected: input.len(), found: input.len() - 1 });
    assert_eq!(plain.counters().runs, before, "nothing ran");
    assert_eq!(plain.task(), 1);

    // A releasing run: the same bits, the data of every tensor reported once, after the run.
    let mut spans: Vec<Range<usize>> = Vec::new();
    let mut out = vec![f32::NAN; len(1)];
    plain.run_releasing(&input, &mut out, &mut |s| spans.push(s)).unwrap();
    assert_eq!(bits(&out), bits(&staged));
    assert_eq!(spans, [b.span(0..b.tensor_count()).unwrap()]);
    assert!(spans[0].start > 0 && spans[0].end <= b.total_bytes(), "the header is never reported");
    assert!(engine_spans.iter().all(|s| spans[0].start <= s.start && s.end <= spans[0].end));
}
