//! A backend with a fallback (`docs/accel-bridge.md`, "Faults"): the model is loaded on the primary backend
//! (the accelerator) when it can be, else on the fallback (the fixed-point engine, which gives the same bits
//! on the CPU). When a run on the primary fails with a device fault (a timeout, a bus fault, a status word
//! the IP raised, a busy or misbehaving IP), that run's error is returned as itself, the model is loaded on
//! the fallback, and every later run is served there; [`Inference::serving`] and
//! [`Inference::fallback_reason`] say so, and the hello exchange reports both.

use super::{Backend, Counters, Inference};
use crate::bundle::Bundle;
use crate::{Error, Result};

/// Whether `e` says the device is unusable (as opposed to bad arguments, which the fallback would refuse
/// too).
fn device_fault(e: &Error) -> bool {
    matches!(
        e,
        Error::AccelTimeout { .. }
            | Error::BusFault { .. }
            | Error::AccelStatus { .. }
            | Error::AccelBusy
            | Error::AccelProtocol { .. }
    )
}

/// The primary backend `P`, with `F` to fall back on.
pub struct Fallback<P, F> {
    primary: P,
    fallback: F,
}

impl<P: Backend, F: Backend> Fallback<P, F> {
    /// `primary`, falling back on `fallback`.
    pub fn new(primary: P, fallback: F) -> Self {
        Self { primary, fallback }
    }
}

impl<P: Backend, F: Backend> Backend for Fallback<P, F> {
    type Loaded<'m>
        = FallbackModel<'m, P, F>
    where
        Self: 'm;

    /// The primary's name.
    fn name(&self) -> &'static str {
        self.primary.name()
    }

    /// The primary's need (each backend holds its own memory).
    fn scratch_words(&self, bundle: &Bundle<'_>) -> usize {
        self.primary.scratch_words(bundle)
    }

    /// The primary can load it, or else the fallback can (the fallback's error then).
    fn fits(&self, bundle: &Bundle<'_>) -> Result<()> {
        self.primary.fits(bundle).or_else(|_| self.fallback.fits(bundle))
    }

    /// On the primary, or on the fallback (remembering why) when the primary refuses.
    fn load<'m>(&'m mut self, bundle: Bundle<'m>) -> Result<FallbackModel<'m, P, F>> {
        let fallback_name = self.fallback.name();
        let Self { primary, fallback } = self;
        match primary.fits(&bundle).and_then(|()| primary.load(bundle)) {
            Ok(p) => Ok(FallbackModel {
                bundle,
                active: Active::Primary(p, fallback),
                fallback_name,
                why: None,
                idle: Counters::default(),
            }),
            Err(why) => Ok(FallbackModel {
                bundle,
                active: Active::Fallback(fallback.load(bundle)?),
                fallback_name,
                why: Some(why),
                idle: Counters::default(),
            }),
        }
    }
}

/// Which backend holds the model.
enum Active<'m, P: Backend + 'm, F: Backend + 'm> {
    /// The primary, with the fallback backend kept to load on if it fails.
    Primary(P::Loaded<'m>, &'m mut F),
    /// The fallback.
    Fallback(F::Loaded<'m>),
    /// Neither: the fallback refused the model after the primary failed (the error is kept in `why`).
    None,
}

/// A model loaded on [`Fallback`].
pub struct FallbackModel<'m, P: Backend + 'm, F: Backend + 'm> {
    bundle: Bundle<'m>,
    active: Active<'m, P, F>,
    fallback_name: &'static str,
    why: Option<Error>,
    /// The counters reported while no backend holds the model.
    idle: Counters,
}

impl<'m, P: Backend + 'm, F: Backend + 'm> FallbackModel<'m, P, F> {
    /// Gives up on the primary after `why`: loads the model on the fallback with the same task selected.
    fn fall_back(&mut self, why: Error) {
        self.why = Some(why);
        if let Active::Primary(p, f) = core::mem::replace(&mut self.active, Active::None) {
            let task = p.task();
            drop(p);
            match f.load(self.bundle) {
                Ok(mut m) => {
                    // The task was valid on the primary, so it is on the same bundle here.
                    let _ = m.select_task(task);
                    self.active = Active::Fallback(m);
                }
                Err(e) => self.why = Some(e),
            }
        }
    }

    fn inference(&self) -> Option<&dyn Inference> {
        match &self.active {
            Active::Primary(p, _) => Some(p),
            Active::Fallback(f) => Some(f),
            Active::None => None,
        }
    }

    fn inference_mut(&mut self) -> Result<&mut dyn Inference> {
        match &mut self.active {
            Active::Primary(p, _) => Ok(p),
            Active::Fallback(f) => Ok(f),
            Active::None => Err(self.why.unwrap_or(Error::Storage { what: "no backend holds the model" })),
        }
    }
}

impl<'m, P: Backend + 'm, F: Backend + 'm> Inference for FallbackModel<'m, P, F> {
    fn bundle(&self) -> &Bundle<'_> {
        &self.bundle
    }

    fn select_task(&mut self, task: u32) -> Result<()> {
        match self.inference_mut()?.select_task(task) {
            Err(e) if device_fault(&e) => {
                self.fall_back(e);
                self.inference_mut()?.select_task(task)
            }
            r => r,
        }
    }

    fn task(&self) -> u32 {
        self.inference().map_or(0, |m| m.task())
    }

    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<()> {
        match self.inference_mut()?.run(input, output) {
            Err(e) if device_fault(&e) => {
                self.fall_back(e);
                Err(e)
            }
            r => r,
        }
    }

    fn counters(&self) -> &Counters {
        self.inference().map_or(&self.idle, |m| m.counters())
    }

    fn serving(&self) -> Option<&'static str> {
        match self.active {
            Active::Primary(..) => None,
            _ => Some(self.fallback_name),
        }
    }

    fn fallback_reason(&self) -> Option<Error> {
        self.why
    }
}
