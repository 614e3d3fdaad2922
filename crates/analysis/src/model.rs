//! Multinomial logistic regression over hashed features: training (AdaGrad, L2, class
//! weighting, early stopping), temperature calibration, a compact i16 file format, and
//! label-shift adaptation by EM prior re-estimation (Saerens, Latinne & Decaestecker 2002).

use anyhow::{Context, Result, bail, ensure};

use crate::metrics::Confusion;

pub const MAX_CLASSES: usize = 4;
const MAGIC: &[u8; 4] = b"RZLM";
const VERSION: u32 = 1;

#[derive(Clone, Debug)]
pub struct LinearModel {
    pub task: String,
    pub labels: Vec<String>,
    pub bits: u8,
    weights: Vec<f32>,
    bias: Vec<f32>,
    pub temperature: f32,
    /// Class prior under which the calibrated posteriors hold (uniform when trained balanced).
    pub train_prior: Vec<f32>,
    /// log(deploy prior / train prior), added to the calibrated logits.
    pub log_shift: Vec<f32>,
}

impl LinearModel {
    pub fn k(&self) -> usize {
        self.labels.len()
    }

    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels
            .iter()
            .position(|l| l.eq_ignore_ascii_case(label))
    }

    #[inline]
    fn logits(&self, x: &[(u32, f32)]) -> [f32; MAX_CLASSES] {
        let k = self.k();
        let mut z = [0f32; MAX_CLASSES];
        z[..k].copy_from_slice(&self.bias);
        // The shipped models have 3 and 2 classes: fixed-width rows unroll.
        match k {
            3 => self.accumulate::<3>(x, &mut z),
            2 => self.accumulate::<2>(x, &mut z),
            _ => {
                for &(i, v) in x {
                    let row = &self.weights[i as usize * k..i as usize * k + k];
                    for c in 0..k {
                        z[c] += v * row[c];
                    }
                }
            }
        }
        z
    }

    #[inline]
    fn accumulate<const K: usize>(&self, x: &[(u32, f32)], z: &mut [f32; MAX_CLASSES]) {
        let (rows, _) = self.weights.as_chunks::<K>();
        for &(i, v) in x {
            let row = &rows[i as usize];
            for c in 0..K {
                z[c] += v * row[c];
            }
        }
    }

    /// Calibrated posteriors under the training prior (what EM adaptation consumes).
    #[inline]
    pub fn raw_probs(&self, x: &[(u32, f32)]) -> [f32; MAX_CLASSES] {
        let mut z = self.logits(x);
        let inv_t = self.temperature.recip();
        for v in z[..self.k()].iter_mut() {
            *v *= inv_t;
        }
        softmax(&mut z[..self.k()]);
        z
    }

    /// Raw (training-prior) and shifted posteriors from one pass over the features.
    #[inline]
    pub fn probs_pair(
        &self,
        x: &[(u32, f32)],
        shift: &[f32],
    ) -> ([f32; MAX_CLASSES], [f32; MAX_CLASSES]) {
        let k = self.k();
        let z = self.logits(x);
        let inv_t = self.temperature.recip();
        let mut raw = [0f32; MAX_CLASSES];
        let mut shifted = [0f32; MAX_CLASSES];
        for c in 0..k {
            raw[c] = z[c] * inv_t;
            shifted[c] = raw[c] + shift[c];
        }
        softmax(&mut raw[..k]);
        softmax(&mut shifted[..k]);
        (raw, shifted)
    }

    /// Calibrated posteriors under the deployment prior.
    #[inline]
    pub fn probs(&self, x: &[(u32, f32)]) -> [f32; MAX_CLASSES] {
        self.probs_with_shift(x, &self.log_shift)
    }

    #[inline]
    pub fn probs_with_shift(&self, x: &[(u32, f32)], shift: &[f32]) -> [f32; MAX_CLASSES] {
        let k = self.k();
        let mut z = self.logits(x);
        let inv_t = self.temperature.recip();
        for c in 0..k {
            z[c] = z[c] * inv_t + shift[c];
        }
        softmax(&mut z[..k]);
        z
    }

    /// The priors the model currently predicts under.
    pub fn deploy_prior(&self) -> Vec<f32> {
        let mut p: Vec<f32> = self
            .train_prior
            .iter()
            .zip(&self.log_shift)
            .map(|(t, s)| t * s.exp())
            .collect();
        let sum: f32 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= sum);
        p
    }

    /// A copy that predicts under `priors` (label-shift correction).
    pub fn with_priors(&self, priors: &[f32]) -> LinearModel {
        let mut m = self.clone();
        m.log_shift = log_shift(&self.train_prior, priors);
        m
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let k = self.k();
        let mut out = Vec::with_capacity(self.weights.len() * 2 + 256);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        put_str(&mut out, &self.task);
        out.push(k as u8);
        for l in &self.labels {
            put_str(&mut out, l);
        }
        out.push(self.bits);
        out.extend_from_slice(&self.temperature.to_le_bytes());
        for v in self
            .bias
            .iter()
            .chain(&self.train_prior)
            .chain(&self.log_shift)
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
        // Per-class scale: i16 keeps ~4 significant digits, enough for argmax and calibration.
        let mut scale = vec![0f32; k];
        for (i, w) in self.weights.iter().enumerate() {
            scale[i % k] = scale[i % k].max(w.abs());
        }
        for s in scale.iter_mut() {
            *s = if *s > 0.0 { *s / 32767.0 } else { 1.0 };
            out.extend_from_slice(&s.to_le_bytes());
        }
        for (i, w) in self.weights.iter().enumerate() {
            let q = (w / scale[i % k]).round().clamp(-32767.0, 32767.0) as i16;
            out.extend_from_slice(&q.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<LinearModel> {
        let mut r = Reader { b: bytes, pos: 0 };
        ensure!(r.take(4)? == MAGIC, "not a Resonanz model file");
        let version = u32::from_le_bytes(r.take(4)?.try_into()?);
        ensure!(version == VERSION, "unsupported model version {version}");
        let task = r.str()?;
        let k = r.take(1)?[0] as usize;
        ensure!((2..=MAX_CLASSES).contains(&k), "bad class count {k}");
        let labels = (0..k).map(|_| r.str()).collect::<Result<Vec<_>>>()?;
        let bits = r.take(1)?[0];
        ensure!((8..=26).contains(&bits), "bad hash width {bits}");
        let temperature = r.f32()?;
        let mut vecs = [vec![], vec![], vec![], vec![]];
        for v in vecs.iter_mut() {
            *v = (0..k).map(|_| r.f32()).collect::<Result<Vec<_>>>()?;
        }
        let [bias, train_prior, log_shift, scale] = vecs;
        let n = (1usize << bits) * k;
        let raw = r.take(n * 2).context("model file truncated")?;
        let weights = raw
            .chunks_exact(2)
            .enumerate()
            .map(|(i, c)| i16::from_le_bytes([c[0], c[1]]) as f32 * scale[i % k])
            .collect();
        Ok(LinearModel {
            task,
            labels,
            bits,
            weights,
            bias,
            temperature,
            train_prior,
            log_shift,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.pos + n > self.b.len() {
            bail!("model file truncated");
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into()?))
    }
    fn str(&mut self) -> Result<String> {
        let n = self.take(1)?[0] as usize;
        Ok(std::str::from_utf8(self.take(n)?)?.to_string())
    }
}

#[inline]
pub fn softmax(z: &mut [f32]) {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    for v in z.iter_mut() {
        *v /= s;
    }
}

pub fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for i in 1..p.len() {
        if p[i] > p[best] {
            best = i;
        }
    }
    best
}

pub fn log_shift(train_prior: &[f32], priors: &[f32]) -> Vec<f32> {
    train_prior
        .iter()
        .zip(priors)
        .map(|(t, p)| (p.max(1e-4) / t.max(1e-4)).ln())
        .collect()
}

// ---------------------------------------------------------------- training

#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub bits: u8,
    pub max_epochs: usize,
    pub patience: usize,
    pub lr: f32,
    /// L2 strengths tried; the best on the held-out slice wins.
    pub l2_grid: Vec<f32>,
    /// Weight classes inversely to their frequency (helps macro-F1, uniform implied prior).
    pub balanced: bool,
    /// With `balanced`: the deployment prior is the training data's class distribution raised
    /// to this power (0 = uniform, best for macro-F1; 1 = empirical, best for accuracy).
    pub prior_power: f32,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            bits: 18,
            max_epochs: 25,
            patience: 4,
            lr: 0.2,
            l2_grid: vec![1e-6, 1e-5, 5e-5],
            balanced: true,
            prior_power: 0.5,
            seed: 42,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TrainReport {
    pub l2: f32,
    pub epochs: usize,
    pub heldout_macro_f1: f64,
    pub heldout_accuracy: f64,
    pub temperature: f32,
    pub heldout_nll: f64,
}

/// A featurised example.
pub struct Sample {
    pub x: Vec<(u32, f32)>,
    pub y: usize,
}

pub fn train(
    task: &str,
    labels: &[String],
    train: &[Sample],
    heldout: &[Sample],
    cfg: &TrainConfig,
) -> Result<(LinearModel, TrainReport)> {
    let k = labels.len();
    ensure!((2..=MAX_CLASSES).contains(&k), "need 2..=4 classes");
    ensure!(!train.is_empty(), "no training examples");
    ensure!(!heldout.is_empty(), "no held-out examples");
    let mut counts = vec![0f32; k];
    for s in train {
        counts[s.y] += 1.0;
    }
    let n = train.len() as f32;
    let class_w: Vec<f32> = if cfg.balanced {
        counts
            .iter()
            .map(|c| if *c > 0.0 { n / (k as f32 * c) } else { 0.0 })
            .collect()
    } else {
        vec![1.0; k]
    };
    let train_prior: Vec<f32> = if cfg.balanced {
        vec![1.0 / k as f32; k]
    } else {
        counts.iter().map(|c| c / n).collect()
    };
    let mut best: Option<(LinearModel, TrainReport)> = None;
    for &l2 in &cfg.l2_grid {
        let (model, epochs, f1, acc) = train_one(task, labels, train, heldout, cfg, l2, &class_w)?;
        let better = best
            .as_ref()
            .is_none_or(|(_, r)| f1 > r.heldout_macro_f1 + 1e-9);
        if better {
            let report = TrainReport {
                l2,
                epochs,
                heldout_macro_f1: f1,
                heldout_accuracy: acc,
                temperature: 1.0,
                heldout_nll: 0.0,
            };
            best = Some((model, report));
        }
    }
    let (mut model, mut report) = best.context("no model trained")?;
    model.train_prior = train_prior.clone();
    model.log_shift = vec![0.0; k];
    // Calibrate on the held-out slice, weighted like training so the implied prior stays.
    let held_w: Vec<f32> = if cfg.balanced {
        let mut hc = vec![0f32; k];
        for s in heldout {
            hc[s.y] += 1.0;
        }
        let hn = heldout.len() as f32;
        hc.iter()
            .map(|c| if *c > 0.0 { hn / (k as f32 * c) } else { 0.0 })
            .collect()
    } else {
        vec![1.0; k]
    };
    let logits: Vec<[f32; MAX_CLASSES]> = heldout.iter().map(|s| model.logits(&s.x)).collect();
    let (t, _) = fit_temperature(&logits, heldout, &held_w, k);
    // Bias-corrected temperature scaling (Alexandari et al. 2020): EM prior estimation is
    // only as good as the calibration of the posteriors it reweights.
    let (t, bias, nll) = fit_bcts(&logits, heldout, &held_w, k, t);
    model.temperature = t;
    for (mb, b) in model.bias.iter_mut().zip(&bias) {
        *mb += b * t;
    }
    report.temperature = t;
    report.heldout_nll = nll;
    if cfg.balanced && cfg.prior_power > 0.0 {
        let mut p: Vec<f32> = counts
            .iter()
            .map(|c| (c / n).max(1e-4).powf(cfg.prior_power))
            .collect();
        let sum: f32 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= sum);
        model.log_shift = log_shift(&model.train_prior, &p);
    }
    Ok((model, report))
}

/// Cross-validated bagging for small data: `folds` models, each trained on all but one
/// stratified fold with early stopping, L2 choice and calibration on that fold; the
/// calibrated logits are averaged into one linear model. Every example is used for training
/// and the average has lower variance than any single fit.
pub fn train_bagged(
    task: &str,
    labels: &[String],
    data: &[Sample],
    folds: usize,
    cfg: &TrainConfig,
) -> Result<(LinearModel, TrainReport)> {
    ensure!(folds >= 2, "need at least 2 folds");
    ensure!(
        data.len() >= folds * 2,
        "too few examples for {folds} folds"
    );
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut rng = cfg.seed.max(1) ^ 0x9e37;
    shuffle(&mut order, &mut rng);
    order.sort_by_key(|i| data[*i].y);
    let mut fold_of = vec![0usize; data.len()];
    for (pos, i) in order.iter().enumerate() {
        fold_of[*i] = pos % folds;
    }
    let mut avg: Option<LinearModel> = None;
    let mut rep_sum = TrainReport {
        l2: 0.0,
        epochs: 0,
        heldout_macro_f1: 0.0,
        heldout_accuracy: 0.0,
        temperature: 1.0,
        heldout_nll: 0.0,
    };
    for f in 0..folds {
        let split = |keep: bool| -> Vec<Sample> {
            data.iter()
                .zip(&fold_of)
                .filter(|(_, fo)| (**fo == f) == keep)
                .map(|(s, _)| Sample {
                    x: s.x.clone(),
                    y: s.y,
                })
                .collect()
        };
        let (tr, ho) = (split(false), split(true));
        let (m, r) = train(task, labels, &tr, &ho, cfg)?;
        let inv_t = 1.0 / (m.temperature * folds as f32);
        match avg.as_mut() {
            None => {
                let mut a = m.clone();
                a.weights.iter_mut().for_each(|w| *w *= inv_t);
                a.bias.iter_mut().for_each(|b| *b *= inv_t);
                a.temperature = 1.0;
                avg = Some(a);
            }
            Some(a) => {
                for (aw, w) in a.weights.iter_mut().zip(&m.weights) {
                    *aw += w * inv_t;
                }
                for (ab, b) in a.bias.iter_mut().zip(&m.bias) {
                    *ab += b * inv_t;
                }
            }
        }
        rep_sum.l2 += r.l2 / folds as f32;
        rep_sum.epochs += r.epochs;
        rep_sum.heldout_macro_f1 += r.heldout_macro_f1 / folds as f64;
        rep_sum.heldout_accuracy += r.heldout_accuracy / folds as f64;
        rep_sum.heldout_nll += r.heldout_nll / folds as f64;
    }
    Ok((avg.context("no model trained")?, rep_sum))
}

fn train_one(
    task: &str,
    labels: &[String],
    train: &[Sample],
    heldout: &[Sample],
    cfg: &TrainConfig,
    l2: f32,
    class_w: &[f32],
) -> Result<(LinearModel, usize, f64, f64)> {
    let k = labels.len();
    let dim = (1usize << cfg.bits) * k;
    let mut model = LinearModel {
        task: task.to_string(),
        labels: labels.to_vec(),
        bits: cfg.bits,
        weights: vec![0.0; dim],
        bias: vec![0.0; k],
        temperature: 1.0,
        train_prior: vec![1.0 / k as f32; k],
        log_shift: vec![0.0; k],
    };
    let mut g2 = vec![0f32; dim];
    let mut gb = vec![0f32; k];
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = cfg.seed.max(1);
    let mut best = (
        f64::NEG_INFINITY,
        0.0,
        0usize,
        model.weights.clone(),
        model.bias.clone(),
    );
    let mut since_best = 0;
    for epoch in 1..=cfg.max_epochs {
        shuffle(&mut order, &mut rng);
        for &i in &order {
            let s = &train[i];
            let mut p = model.logits(&s.x);
            softmax(&mut p[..k]);
            let cw = class_w[s.y];
            let mut g = [0f32; MAX_CLASSES];
            for c in 0..k {
                g[c] = cw * (p[c] - if c == s.y { 1.0 } else { 0.0 });
                gb[c] += g[c] * g[c];
                model.bias[c] -= cfg.lr * g[c] / (gb[c].sqrt() + 1e-6);
            }
            for &(f, v) in &s.x {
                let base = f as usize * k;
                for c in 0..k {
                    let w = &mut model.weights[base + c];
                    let grad = g[c] * v + l2 * *w;
                    let acc = &mut g2[base + c];
                    *acc += grad * grad;
                    *w -= cfg.lr * grad / (acc.sqrt() + 1e-6);
                }
            }
        }
        let mut conf = Confusion::new(k);
        for s in heldout {
            let mut p = model.logits(&s.x);
            softmax(&mut p[..k]);
            conf.add(s.y, argmax(&p[..k]));
        }
        let f1 = conf.macro_f1();
        if f1 > best.0 + 1e-9 {
            best = (
                f1,
                conf.accuracy(),
                epoch,
                model.weights.clone(),
                model.bias.clone(),
            );
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= cfg.patience {
                break;
            }
        }
    }
    let (f1, acc, epochs, w, b) = best;
    model.weights = w;
    model.bias = b;
    Ok((model, epochs, f1, acc))
}

fn shuffle(v: &mut [usize], state: &mut u64) {
    for i in (1..v.len()).rev() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let j = (*state % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Temperature minimising weighted NLL on held-out logits (golden-section search on log T).
fn fit_temperature(
    logits: &[[f32; MAX_CLASSES]],
    data: &[Sample],
    class_w: &[f32],
    k: usize,
) -> (f32, f64) {
    let nll = |t: f64| -> f64 {
        let mut total = 0.0;
        let mut wsum = 0.0;
        for (z, s) in logits.iter().zip(data) {
            let mut p = [0f32; MAX_CLASSES];
            for c in 0..k {
                p[c] = (z[c] as f64 / t) as f32;
            }
            softmax(&mut p[..k]);
            let w = class_w[s.y] as f64;
            total -= w * (p[s.y].max(1e-7) as f64).ln();
            wsum += w;
        }
        total / wsum.max(1e-9)
    };
    let (mut a, mut b) = ((0.05f64).ln(), (20.0f64).ln());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let c = b - phi * (b - a);
        let d = a + phi * (b - a);
        if nll(c.exp()) < nll(d.exp()) {
            b = d;
        } else {
            a = c;
        }
    }
    let t = ((a + b) / 2.0).exp();
    (t as f32, nll(t))
}

/// Jointly fit temperature and per-class biases on held-out logits (weighted NLL, gradient
/// descent from the temperature-only solution).
fn fit_bcts(
    logits: &[[f32; MAX_CLASSES]],
    data: &[Sample],
    class_w: &[f32],
    k: usize,
    t0: f32,
) -> (f32, Vec<f32>, f64) {
    let mut log_inv_t = (1.0 / t0 as f64).ln();
    let mut b = vec![0f64; k];
    let wsum: f64 = data
        .iter()
        .map(|s| class_w[s.y] as f64)
        .sum::<f64>()
        .max(1e-9);
    let eval = |lit: f64, b: &[f64], grad: Option<(&mut f64, &mut [f64])>| -> f64 {
        let inv_t = lit.exp();
        let mut nll = 0.0;
        let mut g_lit = 0.0;
        let mut g_b = [0f64; MAX_CLASSES];
        for (z, s) in logits.iter().zip(data) {
            let w = class_w[s.y] as f64;
            let mut p = [0f64; MAX_CLASSES];
            let mut m = f64::NEG_INFINITY;
            for c in 0..k {
                p[c] = z[c] as f64 * inv_t + b[c];
                m = m.max(p[c]);
            }
            let mut sum = 0.0;
            for v in p[..k].iter_mut() {
                *v = (*v - m).exp();
                sum += *v;
            }
            for v in p[..k].iter_mut() {
                *v /= sum;
            }
            nll -= w * p[s.y].max(1e-12).ln();
            for c in 0..k {
                let d = w * (p[c] - if c == s.y { 1.0 } else { 0.0 });
                g_b[c] += d;
                g_lit += d * z[c] as f64 * inv_t;
            }
        }
        if let Some((gl, gb)) = grad {
            *gl = g_lit / wsum;
            for c in 0..k {
                gb[c] = g_b[c] / wsum;
            }
        }
        nll / wsum
    };
    let mut lr = 0.5;
    let mut cur = eval(log_inv_t, &b, None);
    for _ in 0..300 {
        let mut gl = 0.0;
        let mut gb = vec![0f64; k];
        eval(log_inv_t, &b, Some((&mut gl, &mut gb)));
        let cand_l = log_inv_t - lr * gl;
        let cand_b: Vec<f64> = b.iter().zip(&gb).map(|(v, g)| v - lr * g).collect();
        let next = eval(cand_l, &cand_b, None);
        if next < cur {
            log_inv_t = cand_l;
            b = cand_b;
            cur = next;
            lr *= 1.1;
        } else {
            lr *= 0.5;
            if lr < 1e-6 {
                break;
            }
        }
    }
    // Biases are identifiable only up to a constant: centre them.
    let mean = b.iter().sum::<f64>() / k as f64;
    let t = (1.0 / log_inv_t.exp()) as f32;
    (t, b.iter().map(|v| (v - mean) as f32).collect(), cur)
}

// ---------------------------------------------------------------- label shift

/// EM re-estimation of class priors on unlabelled posteriors (Saerens et al. 2002).
/// `posteriors` are calibrated under `train_prior`; returns the estimated deployment prior.
pub fn em_priors(
    posteriors: &[[f32; MAX_CLASSES]],
    train_prior: &[f32],
    max_iter: usize,
) -> Vec<f32> {
    let k = train_prior.len();
    let mut prior: Vec<f64> = train_prior.iter().map(|p| *p as f64).collect();
    if posteriors.is_empty() {
        return train_prior.to_vec();
    }
    for _ in 0..max_iter {
        let ratio: Vec<f64> = prior
            .iter()
            .zip(train_prior)
            .map(|(p, t)| p / (*t as f64).max(1e-9))
            .collect();
        let mut next = vec![0f64; k];
        for post in posteriors {
            let mut s = 0.0;
            let mut q = [0f64; MAX_CLASSES];
            for c in 0..k {
                q[c] = post[c] as f64 * ratio[c];
                s += q[c];
            }
            if s <= 0.0 {
                continue;
            }
            for c in 0..k {
                next[c] += q[c] / s;
            }
        }
        let n = posteriors.len() as f64;
        let mut delta = 0.0f64;
        for c in 0..k {
            let v = (next[c] / n).max(1e-4);
            delta = delta.max((v - prior[c]).abs());
            prior[c] = v;
        }
        let sum: f64 = prior.iter().sum();
        prior.iter_mut().for_each(|v| *v /= sum);
        if delta < 1e-6 {
            break;
        }
    }
    prior.iter().map(|p| *p as f32).collect()
}

/// Incremental prior re-estimation for the live stream: keeps the most recent posteriors
/// (a sliding window) and re-runs EM on demand.
#[derive(Clone, Debug)]
pub struct PriorAdapter {
    train_prior: Vec<f32>,
    window: Vec<[f32; MAX_CLASSES]>,
    capacity: usize,
    next: usize,
    seen: u64,
    /// Pseudo-count pulling small samples toward the training prior.
    pseudo: f32,
}

impl PriorAdapter {
    pub fn new(train_prior: &[f32], capacity: usize) -> PriorAdapter {
        PriorAdapter {
            train_prior: train_prior.to_vec(),
            window: Vec::with_capacity(capacity.min(65_536)),
            capacity: capacity.max(1),
            next: 0,
            seen: 0,
            pseudo: 50.0,
        }
    }

    /// Feed the raw (unshifted) calibrated posteriors of one item.
    pub fn observe(&mut self, raw_posteriors: &[f32]) {
        let mut p = [0f32; MAX_CLASSES];
        let k = self.train_prior.len();
        p[..k].copy_from_slice(&raw_posteriors[..k]);
        if self.window.len() < self.capacity {
            self.window.push(p);
        } else {
            self.window[self.next] = p;
        }
        self.next = (self.next + 1) % self.capacity;
        self.seen += 1;
    }

    pub fn observed(&self) -> u64 {
        self.seen
    }

    /// Current prior estimate (EM over the window, shrunk toward the training prior).
    pub fn priors(&self) -> Vec<f32> {
        let em = em_priors(&self.window, &self.train_prior, 200);
        let n = self.window.len() as f32;
        em.iter()
            .zip(&self.train_prior)
            .map(|(e, t)| (n * e + self.pseudo * t) / (n + self.pseudo))
            .collect()
    }

    /// log(prior / train prior) to add to the model's calibrated logits.
    pub fn log_shift(&self) -> Vec<f32> {
        log_shift(&self.train_prior, &self.priors())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn em_recovers_a_shifted_prior() {
        // A classifier with known, calibrated likelihoods under a uniform training prior;
        // the deployment stream is 80 % class 0.
        let train_prior = [0.5, 0.5];
        let mut posts = Vec::new();
        let lik = |y: usize, x: usize| if x == y { 0.8f32 } else { 0.2 };
        for i in 0..1000 {
            let y = if i % 10 < 8 { 0 } else { 1 };
            for x in 0..2 {
                // Each true class emits observation x with probability lik(y, x); expand counts.
                let copies = (lik(y, x) * 10.0) as usize;
                for _ in 0..copies {
                    let p0 = lik(0, x) * 0.5;
                    let p1 = lik(1, x) * 0.5;
                    posts.push([p0 / (p0 + p1), p1 / (p0 + p1), 0.0, 0.0]);
                }
            }
        }
        let pri = em_priors(&posts, &train_prior, 500);
        assert!((pri[0] - 0.8).abs() < 0.02, "{pri:?}");
    }

    #[test]
    fn model_file_round_trips() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let train: Vec<Sample> = (0..40)
            .map(|i| Sample {
                x: vec![((i % 2) as u32, 1.0), (7, 0.5)],
                y: i % 2,
            })
            .collect();
        let held: Vec<Sample> = (0..10)
            .map(|i| Sample {
                x: vec![((i % 2) as u32, 1.0)],
                y: i % 2,
            })
            .collect();
        let cfg = TrainConfig {
            bits: 8,
            ..TrainConfig::default()
        };
        let (m, rep) = super::train("t", &labels, &train, &held, &cfg).unwrap();
        assert!(rep.heldout_accuracy > 0.99);
        let m2 = LinearModel::from_bytes(&m.to_bytes()).unwrap();
        let p1 = m.probs(&[(1, 1.0)]);
        let p2 = m2.probs(&[(1, 1.0)]);
        assert!((p1[1] - p2[1]).abs() < 1e-3);
        assert!(p2[1] > 0.5);
        assert!(LinearModel::from_bytes(b"nope").is_err());
    }

    #[test]
    fn prior_adapter_moves_toward_the_stream() {
        let mut a = PriorAdapter::new(&[1.0 / 3.0; 3], 1000);
        for _ in 0..500 {
            a.observe(&[0.2, 0.7, 0.1]);
        }
        let p = a.priors();
        assert!(p[1] > 0.6, "{p:?}");
        assert!(a.log_shift()[1] > 0.0);
    }
}
