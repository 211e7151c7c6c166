//! Images in and pictures out: PNG decoding to the model's input, and task outputs drawn as colours
//! (palette for classes, colour map for depth, grey for probabilities, RGB for normals).

use std::path::Path;

use anyhow::{bail, Context, Result};
use m3rt::kernels::resize::resize_bilinear;
use m3rt::model::PostProcess;

/// An RGB image, 8 bits per channel, row-major.
pub struct Rgb {
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
    /// `h·w·3` bytes.
    pub data: Vec<u8>,
}

/// Reads a PNG (grey, grey+alpha, RGB or RGBA; 8 or 16 bit) as an RGB image.
pub fn read_png(path: &Path) -> Result<Rgb> {
    let bytes = std::fs::read(path).with_context(|| format!("opening {}", path.display()))?;
    decode_png(&bytes).with_context(|| format!("reading {} as a PNG", path.display()))
}

/// The largest image [`decode_png`] accepts, in pixels (64 Mpixel: far beyond any model input).
pub const MAX_PNG_PIXELS: u64 = 1 << 26;

/// Decodes PNG bytes (grey, grey+alpha, RGB or RGBA; 8 or 16 bit) as an RGB image (the reader the fuzz
/// target `png` drives). Refuses an image of more than [`MAX_PNG_PIXELS`] before allocating for it.
pub fn decode_png(bytes: &[u8]) -> Result<Rgb> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().context("not a readable PNG")?;
    let (w, h) = (reader.info().width, reader.info().height);
    if u64::from(w) * u64::from(h) > MAX_PNG_PIXELS {
        bail!("a {w}x{h} PNG is larger than the {MAX_PNG_PIXELS} pixels accepted");
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).context("decoding the PNG's image data")?;
    let (w, h) = (info.width as usize, info.height as usize);
    let px = &buf[..info.buffer_size()];
    let data: Vec<u8> = match info.color_type {
        png::ColorType::Rgb => px.to_vec(),
        png::ColorType::Rgba => px.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        png::ColorType::Grayscale => px.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => px.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0]]).collect(),
        other => bail!("unsupported PNG colour type {other:?}"),
    };
    Ok(Rgb { w, h, data })
}

/// Writes an RGB image as PNG.
pub fn write_png(path: &Path, img: &Rgb) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), img.w as u32, img.h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&img.data).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The image as the model's input `[3, H, W]` in `[0, 1]`, bilinearly resized when its size differs.
pub fn to_input(img: &Rgb, h: usize, w: usize) -> Result<Vec<f32>> {
    let mut chw = vec![0f32; 3 * img.h * img.w];
    for (i, px) in img.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            chw[c * img.h * img.w + i] = f32::from(px[c]) / 255.0;
        }
    }
    if (img.h, img.w) == (h, w) {
        return Ok(chw);
    }
    let mut out = vec![0f32; 3 * h * w];
    resize_bilinear(&chw, 3, img.h, img.w, &mut out, h, w)?;
    Ok(out)
}

/// An input tensor `[3, H, W]` drawn as an image (values clamped to `[0, 1]`).
pub fn from_input(x: &[f32], h: usize, w: usize) -> Rgb {
    let mut data = vec![0u8; h * w * 3];
    for i in 0..h * w {
        for c in 0..3 {
            data[3 * i + c] = (x[c * h * w + i].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    Rgb { w, h, data }
}

/// A task output `[C, H, W]` drawn according to how the task is read.
pub fn draw_output(y: &[f32], c: usize, h: usize, w: usize, post: PostProcess) -> Rgb {
    let hw = h * w;
    let at = |ch: usize, i: usize| y[ch * hw + i];
    let mut data = Vec::with_capacity(hw * 3);
    let (lo, hi) = y.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    for i in 0..hw {
        let rgb = match post {
            PostProcess::Argmax => {
                let class = (0..c).fold(0, |best, ch| if at(ch, i) > at(best, i) { ch } else { best });
                palette(class)
            }
            PostProcess::Sigmoid => {
                let g = (255.0 / (1.0 + (-at(0, i)).exp())).round() as u8;
                [g, g, g]
            }
            PostProcess::L2Normalize if c >= 3 => {
                let n = (0..3).map(|ch| at(ch, i) * at(ch, i)).sum::<f32>().sqrt().max(1e-12);
                let f = |ch: usize| ((at(ch, i) / n + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8;
                [f(0), f(1), f(2)]
            }
            _ => colour_map(if hi > lo { (at(0, i) - lo) / (hi - lo) } else { 0.5 }),
        };
        data.extend_from_slice(&rgb);
    }
    Rgb { w, h, data }
}

/// Two images of the same height side by side, with a 4-pixel white gap.
pub fn side_by_side(a: &Rgb, b: &Rgb) -> Rgb {
    let gap = 4;
    let w = a.w + gap + b.w;
    let h = a.h.max(b.h);
    let mut data = vec![255u8; w * h * 3];
    for (img, x0) in [(a, 0), (b, a.w + gap)] {
        for y in 0..img.h {
            let src = &img.data[y * img.w * 3..(y + 1) * img.w * 3];
            data[(y * w + x0) * 3..(y * w + x0 + img.w) * 3].copy_from_slice(src);
        }
    }
    Rgb { w, h, data }
}

/// A distinct colour per class: a fixed table for the first classes, then a hue walk.
fn palette(class: usize) -> [u8; 3] {
    const TABLE: [[u8; 3]; 12] = [
        [128, 64, 128],
        [232, 35, 244],
        [70, 70, 70],
        [156, 102, 102],
        [153, 153, 190],
        [30, 170, 250],
        [0, 220, 220],
        [35, 142, 107],
        [152, 251, 152],
        [180, 130, 70],
        [60, 20, 220],
        [0, 0, 255],
    ];
    TABLE.get(class).copied().unwrap_or_else(|| {
        let hue = (class as f32 * 0.618_034).fract();
        colour_map(hue)
    })
}

/// A perceptually ordered dark-blue → teal → yellow colour map of `t` in `[0, 1]`.
fn colour_map(t: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] =
        [[48.0, 18.0, 59.0], [40.0, 110.0, 190.0], [30.0, 185.0, 150.0], [170.0, 220.0, 60.0], [250.0, 235.0, 35.0]];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let pos = t * (STOPS.len() - 1) as f32;
    let i = (pos.floor() as usize).min(STOPS.len() - 2);
    let f = pos - i as f32;
    let mix = |c: usize| (STOPS[i][c] * (1.0 - f) + STOPS[i + 1][c] * f).round() as u8;
    [mix(0), mix(1), mix(2)]
}

/// The image enlarged by a whole factor (nearest neighbour) so that it is at least `min_h` pixels tall;
/// small models make pictures too small to see.
pub fn enlarged(img: &Rgb, min_h: usize) -> Rgb {
    let f = min_h.div_ceil(img.h.max(1)).max(1);
    if f == 1 {
        return Rgb { w: img.w, h: img.h, data: img.data.clone() };
    }
    let (w, h) = (img.w * f, img.h * f);
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let at = ((y / f) * img.w + x / f) * 3;
            data.extend_from_slice(&img.data[at..at + 3]);
        }
    }
    Rgb { w, h, data }
}
