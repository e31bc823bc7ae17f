"""PyTorch peer for `evolve bench`: trains the architecture evolve trains, on random data of its
input shape, on this machine's CPU, and prints its throughput.

The architecture comes as evolve's own JSON description (src/models/architecture.ts), so the peer
cannot drift from the ancestor it is compared with: the same conv/pool/dense layers, padding,
strides, activations, batch size, softmax cross-entropy and SGD with momentum 0.9 (lr 0.01).

Install once: apt-get install -y python3-torch   (Debian's PyTorch 1.13)
Run:          /usr/bin/python3 torch_train_bench.py ARCH_JSON THREADS STEPS BATCH [WARMUP]
Prints one line: pytorch VERSION threads=T batch=B steps=S train_samples_per_s=N ms_per_step_median=M
"""
import json, statistics, sys, time
import torch, torch.nn as nn, torch.nn.functional as F


def same_padding(n, k, stride):
    """tfjs's (and TensorFlow's) 'same': total padding split with the odd pixel at the bottom/right."""
    out = -(-n // stride)
    total = max((out - 1) * stride + k - n, 0)
    return total // 2, total - total // 2


def window_out(n, k, stride, padding):
    return -(-n // stride) if padding == 'same' else (n - k) // stride + 1


def build(arch):
    """nn.Sequential of the architecture, NCHW; returns it with the number of classes."""
    h, w, c = arch['inputShape']
    layers, flat = [], False
    for spec in arch['layers']:
        kind = spec['kind']
        if kind in ('conv', 'maxpool'):
            k = spec['kernelSize'] if kind == 'conv' else spec['size']
            stride = spec.get('stride') or k if kind == 'maxpool' else spec['stride']
            padding = spec.get('padding', 'valid')
            if padding == 'same':
                top, bottom = same_padding(h, k, stride)
                left, right = same_padding(w, k, stride)
                if top or bottom or left or right:
                    # max-pool pads with -inf in TensorFlow; zeros are the same after a ReLU, and
                    # every padded pool in evolve's ancestors follows one
                    layers.append(nn.ZeroPad2d((left, right, top, bottom)))
            if kind == 'conv':
                layers.append(nn.Conv2d(c, spec['filters'], k, stride))
                c = spec['filters']
                if spec['activation'] == 'relu':
                    layers.append(nn.ReLU())
            else:
                layers.append(nn.MaxPool2d(k, stride))
            h, w = window_out(h, k, stride, padding), window_out(w, k, stride, padding)
        elif kind == 'flatten':
            layers.append(nn.Flatten())
            c, h, w, flat = c * h * w, 1, 1, True
        elif kind == 'dense':
            if not flat:
                layers.append(nn.Flatten())
                c, h, w, flat = c * h * w, 1, 1, True
            layers.append(nn.Linear(c, spec['units']))
            c = spec['units']
            if spec['activation'] == 'relu':
                layers.append(nn.ReLU())
        else:
            raise SystemExit(f'unknown layer kind {kind!r}')
    return nn.Sequential(*layers), c


def main():
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    arch = json.loads(sys.argv[1])
    threads, steps, batch = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    warmup = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, classes = build(arch)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    h, w, c = arch['inputShape']
    # A few distinct batches, cycled: the data's values do not change the work.
    X = torch.rand(4, batch, c, h, w)
    Y = torch.randint(0, classes, (4, batch))

    def step(i):
        opt.zero_grad()
        F.cross_entropy(model(X[i % 4]), Y[i % 4]).backward()
        opt.step()

    for i in range(warmup):
        step(i)
    times = []
    for i in range(steps):
        t = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - t)
    total = sum(times)
    print(f'pytorch {torch.__version__} threads={threads} batch={batch} steps={steps} '
          f'train_samples_per_s={steps * batch / total:.2f} ms_per_step_median={1000 * statistics.median(times):.2f}')


if __name__ == '__main__':
    main()
