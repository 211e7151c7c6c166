//! Design files: the committed ones parse; bad ones are typed errors, never panics; resource estimates.

use m3rt_sim::design::{DesignError, EDGE_MOE_ZCU102, ZCU104};
use m3rt_sim::resources::{self, Resource, Resources};
use m3rt_sim::Design;

#[test]
fn committed_designs_parse() {
    assert_eq!(Design::zcu104().linear_macs_per_cycle(), 256);
    assert_eq!(Design::edge_moe_zcu102().linear_macs_per_cycle(), 256);
    assert_eq!(Design::edge_moe_zcu102().clock_mhz, 300.0);
}

#[test]
fn bad_toml_is_a_typed_error() {
    assert!(matches!(Design::from_toml("name = "), Err(DesignError::Toml(_))));
    assert!(matches!(Design::from_toml("name = \"x\""), Err(DesignError::Toml(_))));
    let unknown = ZCU104.replace("clock_mhz = 300.0", "clock_mhz = 300.0\nturbo = true");
    assert!(matches!(Design::from_toml(&unknown), Err(DesignError::Toml(_))));
    let typed = ZCU104.replace("tile_rows = 16", "tile_rows = \"sixteen\"");
    assert!(matches!(Design::from_toml(&typed), Err(DesignError::Toml(_))));
    let neg = ZCU104.replace("clock_mhz = 300.0", "clock_mhz = -1.0");
    assert!(matches!(Design::from_toml(&neg), Err(DesignError::Invalid { field: "clock_mhz", .. })));
    let single = EDGE_MOE_ZCU102.replace("weight_buffers = 2", "weight_buffers = 1");
    assert!(matches!(Design::from_toml(&single), Err(DesignError::Invalid { .. })));
    assert!(matches!(Design::load("/nonexistent/design.toml"), Err(DesignError::Io(_))));
}

#[test]
fn zcu104_estimate_fits() {
    // DSP 256·2 + 128·4 = 1024. URAM: weight buffers 2 × ceil(9216/4096)·ceil(256/72) = 2·3·4 = 24, A tile
    // 16 × 1 = 16: 40. BRAM36: 10 + scores 16 × ceil(1280/512) = 48: 58. LUT 384·64 + 2·3000 + 30000.
    let r = resources::check(&Design::zcu104()).unwrap();
    assert_eq!(r, Resources { dsp: 1024, bram36: 58, uram: 40, lut: 60_576 });
}

#[test]
fn edge_moe_estimate_fits_the_zcu102() {
    // DSP 512 + 32·4 = 640. No URAM on the XCZU9EG: weight buffers 2 × ceil(576/512)·ceil(4096/72) = 228
    // BRAM36, the input row ceil(48/512)·ceil(512/72) = 8, + 10: 246. LUT 288·64 + 5·3000 + 30000.
    let r = resources::check(&Design::edge_moe_zcu102()).unwrap();
    assert_eq!(r, Resources { dsp: 640, bram36: 246, uram: 0, lut: 63_432 });
}

#[test]
fn an_oversized_point_is_refused_with_its_resource() {
    // 32×32 W16A32 MACs need 2048 DSP plus attention's 512: more than the XCZU7EV's 1728.
    let mut d = Design::zcu104();
    d.linear.tile_rows = 32;
    d.linear.tile_cols = 32;
    let e = resources::check(&d).unwrap_err();
    assert_eq!((e.resource, e.needed, e.available), (Resource::Dsp, 2560, 1728));
    // Scores for 16 queries × 16384 tokens: 10 + 16·32 BRAM36 > 312.
    let mut d = Design::zcu104();
    d.attention.max_tokens = 16_384;
    assert_eq!(resources::check(&d).unwrap_err().resource, Resource::Bram36);
}
