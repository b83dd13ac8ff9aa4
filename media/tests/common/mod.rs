//! What the media tests share.

use ringside_media::player::Source;

/// A 440 Hz tone at 8 kHz for `.1` samples (`.0`: samples played so far), then finished: a
/// stand-in for a prompt or hold music.
pub struct Beep(pub u32, pub usize);

impl Source for Beep {
    fn fill(&mut self, out: &mut [i16]) -> usize {
        let n = out.len().min(self.1);
        for o in out[..n].iter_mut() {
            let t = f64::from(self.0) / 8000.0;
            *o = (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
            self.0 += 1;
        }
        self.1 -= n;
        n
    }
    fn is_finished(&self) -> bool {
        self.1 == 0
    }
}
