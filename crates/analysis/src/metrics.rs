//! Classification metrics: confusion matrix, per-class P/R/F1, micro/macro-F1.

use std::fmt::Write as _;

#[derive(Clone, Debug)]
pub struct Confusion {
    k: usize,
    /// m[gold][pred]
    m: Vec<u64>,
}

impl Confusion {
    pub fn new(k: usize) -> Confusion {
        Confusion {
            k,
            m: vec![0; k * k],
        }
    }

    pub fn add(&mut self, gold: usize, pred: usize) {
        self.m[gold * self.k + pred] += 1;
    }

    pub fn get(&self, gold: usize, pred: usize) -> u64 {
        self.m[gold * self.k + pred]
    }

    pub fn n(&self) -> u64 {
        self.m.iter().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.k).map(|i| self.get(i, i)).sum();
        correct as f64 / self.n().max(1) as f64
    }

    /// (precision, recall, f1, support) of class `c`.
    pub fn prf(&self, c: usize) -> (f64, f64, f64, u64) {
        let tp = self.get(c, c) as f64;
        let pred: u64 = (0..self.k).map(|g| self.get(g, c)).sum();
        let gold: u64 = (0..self.k).map(|p| self.get(c, p)).sum();
        let p = if pred > 0 { tp / pred as f64 } else { 0.0 };
        let r = if gold > 0 { tp / gold as f64 } else { 0.0 };
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        (p, r, f, gold)
    }

    /// Macro-F1 over classes present in gold or predictions.
    pub fn macro_f1(&self) -> f64 {
        let mut sum = 0.0;
        let mut n = 0;
        for c in 0..self.k {
            let gold: u64 = (0..self.k).map(|p| self.get(c, p)).sum();
            let pred: u64 = (0..self.k).map(|g| self.get(g, c)).sum();
            if gold + pred == 0 {
                continue;
            }
            sum += self.prf(c).2;
            n += 1;
        }
        if n == 0 { 0.0 } else { sum / n as f64 }
    }

    /// Single-label multi-class: micro-F1 equals accuracy.
    pub fn micro_f1(&self) -> f64 {
        self.accuracy()
    }

    /// GermEval 2018 "Average F": F1 of macro-precision and macro-recall.
    pub fn average_f(&self) -> f64 {
        let (mut p, mut r) = (0.0, 0.0);
        for c in 0..self.k {
            let (pc, rc, _, _) = self.prf(c);
            p += pc;
            r += rc;
        }
        p /= self.k as f64;
        r /= self.k as f64;
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }

    /// Human-readable report; the last line is the machine-readable `result:` line.
    pub fn report(&self, labels: &[String]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "accuracy: {:.4}", self.accuracy());
        let _ = writeln!(s, "micro_f1: {:.4}", self.micro_f1());
        let _ = writeln!(s, "macro_f1: {:.4}", self.macro_f1());
        if self.k == 2 {
            let _ = writeln!(s, "average_f (GermEval): {:.4}", self.average_f());
        }
        let _ = writeln!(
            s,
            "{:<12} {:>9} {:>9} {:>9} {:>8}",
            "class", "precision", "recall", "f1", "support"
        );
        for (c, l) in labels.iter().enumerate() {
            let (p, r, f, n) = self.prf(c);
            let _ = writeln!(s, "{l:<12} {p:>9.4} {r:>9.4} {f:>9.4} {n:>8}");
        }
        let _ = writeln!(s, "confusion matrix (rows = gold, columns = predicted):");
        let _ = write!(s, "{:<12}", "");
        for l in labels {
            let _ = write!(s, " {l:>9}");
        }
        let _ = writeln!(s);
        for (g, l) in labels.iter().enumerate() {
            let _ = write!(s, "{l:<12}");
            for p in 0..self.k {
                let _ = write!(s, " {:>9}", self.get(g, p));
            }
            let _ = writeln!(s);
        }
        let _ = write!(
            s,
            "result: accuracy={:.4} micro_f1={:.4} macro_f1={:.4} n={}",
            self.accuracy(),
            self.micro_f1(),
            self.macro_f1(),
            self.n()
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_figures_match_hand_computation() {
        let mut c = Confusion::new(2);
        // gold 0: 8 right, 2 wrong; gold 1: 5 right, 5 wrong
        for _ in 0..8 {
            c.add(0, 0);
        }
        for _ in 0..2 {
            c.add(0, 1);
        }
        for _ in 0..5 {
            c.add(1, 1);
        }
        for _ in 0..5 {
            c.add(1, 0);
        }
        assert!((c.accuracy() - 0.65).abs() < 1e-9);
        let (p0, r0, f0, _) = c.prf(0);
        assert!((p0 - 8.0 / 13.0).abs() < 1e-9);
        assert!((r0 - 0.8).abs() < 1e-9);
        let (p1, r1, f1, _) = c.prf(1);
        assert!((p1 - 5.0 / 7.0).abs() < 1e-9 && (r1 - 0.5).abs() < 1e-9);
        assert!((c.macro_f1() - (f0 + f1) / 2.0).abs() < 1e-9);
        assert!(c.report(&["a".into(), "b".into()]).ends_with("n=20"));
    }
}
