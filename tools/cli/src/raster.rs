//! A small RGB canvas for the charts `m3rt profile` writes as PNG: filled rectangles and text in the 8×8
//! public-domain bitmap font of the `font8x8` crate, encoded with `png`. Enough for bar charts, with no font
//! files or system libraries.

use std::path::Path;

use anyhow::{Context, Result};
use font8x8::UnicodeFonts;

/// An RGB image, white at first.
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

/// An RGB colour.
pub type Rgb = [u8; 3];

impl Canvas {
    /// A white canvas of `width` × `height` pixels.
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, pixels: vec![255; width * height * 3] }
    }

    /// Fills the rectangle at (`x`, `y`) of `w` × `h` pixels, clipped to the canvas.
    pub fn rect(&mut self, x: usize, y: usize, w: usize, h: usize, color: Rgb) {
        for row in y..(y + h).min(self.height) {
            for col in x..(x + w).min(self.width) {
                let i = (row * self.width + col) * 3;
                self.pixels[i..i + 3].copy_from_slice(&color);
            }
        }
    }

    /// Writes `text` with its top-left corner at (`x`, `y`), each font pixel `scale` × `scale` (characters
    /// the font lacks are drawn as `?`).
    pub fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, color: Rgb) {
        for (i, c) in text.chars().enumerate() {
            let glyph = font8x8::BASIC_FONTS.get(c).or_else(|| font8x8::BASIC_FONTS.get('?')).unwrap_or([0; 8]);
            let x0 = x + i * 8 * scale;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        self.rect(x0 + col * scale, y + row * scale, scale, scale, color);
                    }
                }
            }
        }
    }

    /// Writes the canvas to `path` as an 8-bit RGB PNG.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().with_context(|| format!("writing {}", path.display()))?;
        writer.write_image_data(&self.pixels).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// The colour at (`x`, `y`).
    #[cfg(test)]
    pub fn pixel(&self, x: usize, y: usize) -> Rgb {
        let i = (y * self.width + x) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangles_clip_and_text_draws_the_glyph() {
        let mut c = Canvas::new(20, 10);
        c.rect(15, 5, 10, 10, [1, 2, 3]);
        assert_eq!(c.pixel(19, 9), [1, 2, 3]);
        assert_eq!(c.pixel(14, 9), [255, 255, 255]);
        // font8x8's 'I' row 0 is 0x1E: columns 1..=4 set (bit 0 is the leftmost pixel).
        let mut t = Canvas::new(8, 8);
        t.text(0, 0, "I", 1, [0, 0, 0]);
        let row0: Vec<bool> = (0..8).map(|x| t.pixel(x, 0) == [0, 0, 0]).collect();
        assert_eq!(row0, [false, true, true, true, true, false, false, false]);
    }
}
