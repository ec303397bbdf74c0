//! Subnets out of the supernet: their weights ([`Supernet::extract`]) with batch-norm
//! statistics recalibrated on a few batches and looked up by layer name, fine-tuning from
//! the inherited weights ([`Supernet::fine_tune`]) and evaluation ([`evaluate_subnet`]).
//! Which layers a block kind hands out, at which widths, lives in [`SuperBlock::weights`].

use burn::prelude::*;
use edgenas_space::{Architecture, BatchNorm as BnWeights, Block, BlockKind, ConvWeights, LinearWeights, NamedWeights};

use super::layers::{BlockAt, BnMode, BnStats, SuperBlock, SuperConvBn, SuperSe};
use super::Supernet;
use crate::data::{shuffled, Dataset};
use crate::error::Result;
use crate::model::Net;
use crate::trainer::{batch, device, evaluate, train_model, Metrics, TrainConfig};

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

impl SuperConvBn {
    /// The subnet layer `cin -> cout` with kernel `k` and batch-norm statistics `stats`.
    fn weights(&self, cin: usize, cout: usize, k: usize, stats: (Vec<f32>, Vec<f32>)) -> ConvWeights {
        let v1 = |t: Tensor<1>| to_vec(t.slice(s![0..cout]));
        ConvWeights {
            weight: to_vec(self.weight(cin, cout, k)),
            bias: None,
            bn: Some(BnWeights {
                gamma: v1(self.bn.gamma.val()),
                beta: v1(self.bn.beta.val()),
                mean: stats.0,
                var: stats.1,
            }),
        }
    }
}

impl SuperSe {
    /// The reduce and expand convolutions of the subnet's squeeze-excite on `c` channels.
    fn weights(&self, c: usize) -> (ConvWeights, ConvWeights) {
        let (rw, rb, ew, eb) = self.parts(c);
        (
            ConvWeights { weight: to_vec(rw), bias: Some(to_vec(rb)), bn: None },
            ConvWeights { weight: to_vec(ew), bias: Some(to_vec(eb)), bn: None },
        )
    }
}

impl SuperBlock {
    /// Adds the layers of block `b` at `at` to `w`, each with its statistics from `stats`:
    /// the expansion (when `b.expansion > 1`), the depthwise convolution (on the expanded
    /// width for MBConv, on the input width for the ConvNeXt-like kind), squeeze-excite (when
    /// asked) and the projection.
    fn weights(&self, b: &Block, at: &BlockAt, stats: &mut BnStats, w: &mut NamedWeights) {
        let n = &at.name;
        let cexp = at.cin * b.expansion;
        let l = self.layers(b.kind);
        let dw_width = match b.kind {
            BlockKind::Mbconv => cexp,
            BlockKind::Convnext => at.cin,
        };
        let dw = format!("{n}.dw");
        w.convs.insert(dw.clone(), l.dw.weights(dw_width, dw_width, b.kernel, stats.take(&dw)));
        if b.expansion > 1 {
            let expand = format!("{n}.expand");
            w.convs.insert(expand.clone(), l.expand.weights(at.cin, cexp, 1, stats.take(&expand)));
        }
        if b.se {
            let (r, e) = l.se.weights(cexp);
            w.convs.insert(format!("{n}.se.reduce"), r);
            w.convs.insert(format!("{n}.se.expand"), e);
        }
        let project = format!("{n}.project");
        w.convs.insert(project.clone(), l.project.weights(cexp, at.cout, 1, stats.take(&project)));
    }
}

impl Supernet {
    /// Subnet `sub` fine-tuned from its inherited weights, as edgenas finishes a model: the
    /// weights from [`Supernet::extract`] (batch norm recalibrated on `calib_batches` x 64 images
    /// of `calib`), then `steps` steps of batch 64 on `train` (AdamW, lr 1e-3, no warm-up) and
    /// the metrics on `valid`. With `steps` 0 the inherited weights come back untrained, on the
    /// inference device, without metrics.
    #[allow(clippy::too_many_arguments)]
    pub fn fine_tune(
        &self,
        sub: &Architecture,
        calib: &Dataset,
        calib_batches: usize,
        train: &Dataset,
        valid: &Dataset,
        steps: usize,
        seed: u64,
    ) -> Result<(Net, Option<Metrics>)> {
        let w = self.extract(sub, calib, 64, calib_batches, seed);
        if steps == 0 {
            return Ok((Net::from_named_weights(sub, &w, &device(seed)), None));
        }
        let model = Net::from_named_weights(sub, &w, &device(seed).autodiff());
        let cfg = TrainConfig { steps: Some(steps), lr: 1e-3, warmup_fraction: 0.0, seed, ..TrainConfig::default() };
        let (net, metrics) = train_model(model, train, valid, &cfg, &mut |_| {})?;
        Ok((net, Some(metrics)))
    }

    /// The weights of subnet `sub`, with batch-norm statistics recalibrated on `batches`
    /// batches of `batch_size` images of `calib` (averaged over the batches, as OFA does).
    /// Call on an eval-mode (`valid()`) supernet.
    pub fn extract(
        &self,
        sub: &Architecture,
        calib: &Dataset,
        batch_size: usize,
        batches: usize,
        seed: u64,
    ) -> NamedWeights {
        let mut stats = self.recalibrate(sub, calib, batch_size, batches, seed);
        let mut w = NamedWeights::default();
        let stem = self.stem.weights(sub.input.channels, sub.stem.width, sub.stem.kernel, stats.take("stem"));
        w.convs.insert("stem".into(), stem);
        let mut cin = sub.stem.width;
        for (at, b, sb) in self.blocks(sub) {
            sb.weights(b, &at, &mut stats, &mut w);
            cin = at.cout;
        }
        w.convs.insert("head.conv".into(), self.head.weights(cin, sub.head.width, 1, stats.take("head.conv")));
        w.linears.insert("head.fc".into(), self.fc_weights(sub.head.width, sub.classes));
        assert!(stats.is_empty(), "every recorded batch-norm layer has its weights");
        w
    }

    /// Batch-norm statistics of subnet `sub` by layer name, averaged over `batches` batches
    /// of `batch_size` images of `calib` (shuffled with `seed`).
    fn recalibrate(
        &self,
        sub: &Architecture,
        calib: &Dataset,
        batch_size: usize,
        batches: usize,
        seed: u64,
    ) -> BnStats {
        let device = self.device();
        let order = shuffled(calib.len(), seed);
        let mut sums = BnStats::default();
        let mut count = 0usize;
        for chunk in order.chunks(batch_size.max(1)).take(batches.max(1)) {
            let (x, _) = batch(calib, chunk, &device);
            let mut mode = BnMode::Record(BnStats::default());
            let _ = self.forward_mode(sub, x, &mut mode);
            let BnMode::Record(stats) = mode else { unreachable!() };
            sums.add(stats);
            count += 1;
        }
        sums.scale(1.0 / count.max(1) as f32);
        sums
    }

    /// The classifier of a subnet with a `hw`-wide head, in the layout `[classes, hw]`.
    fn fc_weights(&self, hw: usize, classes: usize) -> LinearWeights {
        let wt = to_vec(self.fc.weight.val().slice(s![0..hw, ..]));
        let mut weight = vec![0f32; hw * classes];
        for i in 0..hw {
            for o in 0..classes {
                weight[o * hw + i] = wt[i * classes + o];
            }
        }
        let bias = match &self.fc.bias {
            Some(b) => to_vec(b.val()),
            None => vec![0.0; classes],
        };
        LinearWeights { weight, bias }
    }
}

/// Accuracy of subnet `sub` on `valid`, after recalibrating its batch-norm statistics on
/// `calib_batches` batches of 64 images of `calib`. Returns the accuracy and the weights.
pub fn evaluate_subnet(
    supernet: &Supernet,
    sub: &Architecture,
    calib: &Dataset,
    calib_batches: usize,
    valid: &Dataset,
    seed: u64,
) -> (f64, NamedWeights) {
    let device = supernet.device();
    let w = supernet.extract(sub, calib, 64, calib_batches, seed);
    let net = Net::from_named_weights(sub, &w, &device);
    (evaluate(&net, valid, &device), w)
}
