//! `Inference::run_releasing` computes the bits `run` does and reports only tensor data, each byte once:
//! ranges inside the weights, never the header or the tensor table the bundle keeps reading.

use m3rt::backend::{Backend, Inference};
use m3rt::bundle::Bundle;

use super::{precisions, scratch, UnderTest};
use crate::common::*;

/// Every task of `micro`, both ways, on both precisions.
pub fn same_bits_and_only_tensor_data<D: UnderTest>() {
    for precision in precisions::<D>() {
        let dir = model_dir("micro").unwrap();
        let bytes = bundle(&dir, precision);
        let bundle = Bundle::parse(&bytes).unwrap();
        let data = bundle.span(0..bundle.tensor_count()).unwrap();
        let mut scratch = scratch::<D>(&bundle);
        let mut backend = D::backend(&mut scratch);
        let mut model = backend.load(bundle).unwrap();
        let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
        for t in 0..bundle.task_count() {
            model.select_task(t).unwrap();
            let mut whole = vec![0f32; model.output_len().unwrap()];
            model.run(&input, &mut whole).unwrap();
            let mut staged = vec![f32::NAN; whole.len()];
            let mut spans = Vec::new();
            model.run_releasing(&input, &mut staged, &mut |span| spans.push(span)).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&staged), bits(&whole), "{}: {precision:?} task {t}: releasing run differs", D::NAME);
            assert!(!spans.is_empty(), "{}: nothing reported", D::NAME);
            for s in &spans {
                assert!(
                    data.start <= s.start && s.end <= data.end,
                    "{}: {s:?} outside the tensor data {data:?}",
                    D::NAME
                );
            }
            spans.sort_by_key(|s| s.start);
            assert!(spans.windows(2).all(|w| w[0].end <= w[1].start), "{}: a byte reported twice: {spans:?}", D::NAME);
        }
    }
}
