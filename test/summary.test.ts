// model.summary(): layers, output shapes, parameters and the multiplications
// and additions of one example (the AdderNet paper's Table 1 convention),
// by shape arithmetic. The expected counts are derived here from the
// architecture (SPEC.md), not read back from the implementation.
import { describe, expect, it } from 'vitest';
import { memoryInfo, Model, models, nn, zeros, type Tensor } from '../lib/index';
import { formatSummary, humanCount, SUMMARY_WIDTH } from '../lib/nn/summary';
import { caught } from './nn-helpers';

const size = (t: Tensor): number => t.shape.reduce((a, b) => a * b, 1);

/** LeNet-5-BN by hand: 28x28 in, 5x5 layers of 6 (pad 2) and 16 maps, 2x2 max pools, 400-120-84-10. */
const lenet = (() => {
  const conv1 = 6 * 28 * 28 * (1 * 5 * 5); // 117,600 taps: 28x28 out (pad 2)
  const conv2 = 16 * 10 * 10 * (6 * 5 * 5); // 240,000: 14 - 5 + 1 = 10
  const fc = 400 * 120 + 120 * 84 + 84 * 10; // 48,000 + 10,080 + 840
  const bn = 6 * 28 * 28 + 16 * 10 * 10 + 120 + 84; // BN after conv1, conv2, fc1, fc2
  return { taps: conv1 + conv2 + fc, bn, fc3Bias: 10, bn5: 10 };
})();

describe('model.summary()', () => {
  it('LeNet-5-BN as a CNN: 416,520 mult + 416,530 add in its conv/linear layers (the paper: ~435K + ~435K)', () => {
    const s = models.lenet5bn({ layer: 'conv' }).summary();
    expect(lenet.taps).toBe(416_520);
    const layers = s.rows.filter((r) => r.type === 'Conv2d' || r.type === 'Linear');
    expect(layers.map((r) => r.name)).toEqual(['conv1', 'conv2', 'fc1', 'fc2', 'fc3']);
    const mult = layers.reduce((a, r) => a + r.multiplications, 0);
    const add = layers.reduce((a, r) => a + r.additions, 0);
    expect(mult).toBe(lenet.taps);
    expect(add).toBe(lenet.taps + lenet.fc3Bias);
    expect(Math.abs(mult / 435_000 - 1)).toBeLessThan(0.05);
    // Folded BatchNorm: one multiplication and one addition per element.
    expect(s.totals.multiplications).toBe(lenet.taps + lenet.bn);
    expect(s.totals.additions).toBe(lenet.taps + lenet.fc3Bias + lenet.bn);
    expect(s.totals).toMatchObject({ multiplications: 423_028, additions: 423_038 });
  });

  it('LeNet-5-BN as an AdderNet: 833,040 additions and no multiplication in its adder layers (the paper: ~870K add)', () => {
    const s = models.lenet5bn({ layer: 'adder' }).summary();
    const layers = s.rows.filter((r) => r.type === 'Adder2d' || r.type === 'AdderLinear');
    expect(layers).toHaveLength(5);
    expect(layers.every((r) => r.multiplications === 0)).toBe(true);
    const add = layers.reduce((a, r) => a + r.additions, 0);
    expect(add).toBe(2 * lenet.taps); // |x - w| and the sum: two additions per tap
    expect(Math.abs(add / 870_000 - 1)).toBeLessThan(0.05);
    expect(s.rows.find((r) => r.name === 'conv1')!.additions).toBe(2 * 117_600);
    // The only multiplications left are the BatchNorms' (bn5 after the classifier too).
    expect(s.totals.multiplications).toBe(lenet.bn + lenet.bn5);
    expect(s.totals.additions).toBe(2 * lenet.taps + lenet.bn + lenet.bn5);
    expect(s.totals).toMatchObject({ multiplications: 6_518, additions: 839_558 });
  });

  it('LeNet-5-BN rows: dotted names, types, output shapes, parameters and trainable', () => {
    const m = models.lenet5bn();
    const s = m.summary();
    expect(s).toMatchObject({ arch: 'lenet5bn', layer: 'adder', inputShape: [1, 28, 28], outputShape: [10] });
    const row = (name: string) => s.rows.find((r) => r.name === name)!;
    expect(row('conv1')).toMatchObject({ type: 'Adder2d', outputShape: [6, 28, 28], parameters: 150, buffers: 0, trainable: true });
    expect(row('bn1')).toMatchObject({ type: 'BatchNorm2d', outputShape: [6, 28, 28], parameters: 12, buffers: 12, trainable: true });
    expect(row('pool1')).toMatchObject({ type: 'MaxPool2d', outputShape: [6, 14, 14], parameters: 0, trainable: false, multiplications: 0, additions: 0 });
    expect(row('conv2').outputShape).toEqual([16, 10, 10]);
    expect(row('flatten').outputShape).toEqual([400]);
    expect(row('fc1')).toMatchObject({ type: 'AdderLinear', outputShape: [120], parameters: 48_000 });
    expect(s.rows.map((r) => r.name)).toEqual([...m.net.children()].map(([n]) => n));
    expect(s.totals.parameters).toBe(m.parameters().reduce((a, p) => a + size(p.value), 0));
    expect(JSON.parse(JSON.stringify(s))).toEqual(s); // plain data
  });

  it('output shapes match a real batch-1 forward, layer by layer', () => {
    for (const layer of ['adder', 'conv'] as const) {
      const m = models.lenet5bn({ layer }).eval();
      const rows = m.summary().rows;
      let x: Tensor = zeros([1, 1, 28, 28]);
      [...m.net.children()].forEach(([name, module], i) => {
        const y = module.forward(x);
        expect([name, y.shape.slice(1)]).toEqual([rows[i].name, rows[i].outputShape]);
        if (y !== x) x.dispose();
        x = y;
      });
      x.dispose();
    }
    const r = models.resnet20().eval();
    const x = zeros([1, 3, 32, 32]);
    const y = r.forward(x);
    expect(y.shape).toEqual([1, ...r.summary().outputShape]);
    x.dispose();
    y.dispose();
  });

  it('ResNet-20: parameters and buffers equal the model\'s, and every layer holding them has a row', () => {
    for (const layer of ['adder', 'conv'] as const) {
      const m = models.resnet20({ layer });
      const s = m.summary();
      const params = m.parameters().reduce((a, p) => a + size(p.value), 0);
      expect(s.totals.parameters).toBe(params);
      expect(s.totals.parameters).toBe(272_484);
      expect(s.totals.buffers).toBe([...m.net.namedBuffers()].reduce((a, [, b]) => a + size(b), 0));
      const owners = new Set(m.namedParameters().map(([n]) => n.slice(0, n.lastIndexOf('.'))));
      expect(new Set(s.rows.filter((r) => r.parameters > 0).map((r) => r.name))).toEqual(owners);
      expect(new Set(s.rows.map((r) => r.name)).size).toBe(s.rows.length);
    }
  });

  it('ResNet-20 rows: shapes per stage, the residual sums, pooling and the counts of a CNN by hand', () => {
    const s = models.resnet20({ layer: 'conv' }).summary();
    const row = (name: string) => s.rows.find((r) => r.name === name)!;
    expect(row('conv1').outputShape).toEqual([16, 32, 32]);
    expect(row('layer1.2.add')).toMatchObject({ type: 'Add', outputShape: [16, 32, 32], additions: 16 * 32 * 32 });
    expect(row('layer2.0.conv1').outputShape).toEqual([32, 16, 16]);
    expect(row('layer2.0.downsample.0')).toMatchObject({ type: 'Conv2d', outputShape: [32, 16, 16], parameters: 32 * 16 });
    expect(row('layer3.2.relu').outputShape).toEqual([64, 8, 8]);
    expect(row('avgpool')).toMatchObject({ type: 'AvgPool2d', outputShape: [64, 1, 1], additions: 64 * (64 - 1) });
    expect(row('fc')).toMatchObject({ outputShape: [10, 1, 1], multiplications: 640 });
    expect(s.outputShape).toEqual([10]);
    // Taps: the first conv, 3 stages of 6 3x3 layers, 2 1x1 shortcuts, the 1x1 classifier.
    const conv3 = (c: number, t: number, hw: number) => t * hw * hw * c * 9;
    const taps =
      conv3(3, 16, 32) + 6 * conv3(16, 16, 32) +
      conv3(16, 32, 16) + 5 * conv3(32, 32, 16) + 32 * 16 * 16 * 16 +
      conv3(32, 64, 8) + 5 * conv3(64, 64, 8) + 64 * 8 * 8 * 32 +
      64 * 10;
    const bn = 16 * 32 * 32 * 7 + 32 * 16 * 16 * 7 + 64 * 8 * 8 * 7 + 10;
    const conv = s.rows.filter((r) => r.type === 'Conv2d');
    expect(conv.reduce((a, r) => a + r.multiplications, 0)).toBe(taps);
    expect(taps).toBe(40_813_184);
    expect(s.totals.multiplications).toBe(taps + bn);
    const sums = 3 * (16 * 32 * 32 + 32 * 16 * 16 + 64 * 8 * 8);
    expect(s.totals.additions).toBe(taps + bn + sums + 64 * 63);
    // The AdderNet: only the first conv and the 1x1 conv classifier keep multiplications (SPEC.md).
    const a = models.resnet20({ layer: 'adder' }).summary();
    expect(a.totals.multiplications).toBe(conv3(3, 16, 32) + 640 + bn);
    expect(a.totals.additions).toBe(2 * (taps - conv3(3, 16, 32) - 640) + conv3(3, 16, 32) + 640 + bn + sums + 64 * 63);
  });

  it('makes no tensor and leaves the mode alone', () => {
    const m = models.resnet20();
    const base = memoryInfo().liveTensors;
    m.summary();
    m.summaryText();
    expect(memoryInfo().liveTensors).toBe(base);
    expect(m.training).toBe(true);
    m.eval();
    m.summary();
    expect([...m.net.namedModules()].every(([, x]) => !x.training)).toBe(true);
  });

  it('inputShape: another example size changes the shapes; a wrong one is a shape error naming the layer', () => {
    const s = models.resnet20().summary({ inputShape: [3, 64, 64] });
    expect(s.rows.find((r) => r.name === 'avgpool')!.outputShape).toEqual([64, 2, 2]);
    expect(s.outputShape).toEqual([40]);
    const bad = caught(() => models.lenet5bn().summary({ inputShape: [3, 28, 28] }));
    expect(bad.code).toBe('ERR_ADDERNET_SHAPE');
    expect(bad.message).toContain('"conv1"');
    expect(caught(() => models.lenet5bn().summary({ inputShape: [28, 28] })).code).toBe('ERR_ADDERNET_SHAPE');
    expect(caught(() => models.lenet5bn().summary({ inputShape: [1, 20, 20] })).message).toContain('"fc1"'); // 400 features expected
  });

  it('a module of your own without summarize() is named in the error', () => {
    class Mine extends nn.Module {
      forward(x: Tensor): Tensor { return x; }
      backward(g: Tensor): Tensor { return g; }
      config() { return { type: 'Mine' }; }
    }
    const m = new Model(new nn.Sequential({ pre: new nn.ReLU(), mine: new Mine() }), { arch: 'custom', options: {}, inputShape: [1, 4, 4], numClasses: 2 });
    const err = caught(() => m.summary());
    expect(err.code).toBe('ERR_ADDERNET_TYPE');
    expect(err.message).toContain('"mine"');
    expect(err.message).toContain('a Mine');
  });
});

describe('summaryText()', () => {
  it('a table within 100 columns: every row, the totals exactly and in K/M units', () => {
    for (const m of [models.lenet5bn(), models.lenet5bn({ layer: 'conv' }), models.resnet20(), models.resnet32({ layer: 'conv', numClasses: 100 })]) {
      const text = m.summaryText();
      const lines = text.split('\n');
      expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(SUMMARY_WIDTH);
      const s = m.summary();
      for (const r of s.rows) expect(lines.some((l) => l.startsWith(`${r.name} `) && l.includes(`[${r.outputShape.join(', ')}]`)), r.name).toBe(true);
      expect(lines.find((l) => l.startsWith('Total'))).toContain(s.totals.additions.toLocaleString('en-US'));
    }
    const adder = models.lenet5bn().summaryText();
    expect(adder).toMatch(/^Model: lenet5bn \(AdderNet\), input \[1, 28, 28\] -> output \[10\]/);
    expect(adder).toMatch(/^Layer +Type +Output shape +Params +Mult +Add$/m);
    expect(adder).toMatch(/^conv1 +Adder2d +\[6, 28, 28\] +150 +0 +235,200$/m);
    expect(adder).toContain('61.9K parameters (+ 472 buffer elements), 6.52K multiplications, 840K additions per example');
    expect(models.lenet5bn({ layer: 'conv' }).summaryText()).toContain('423K multiplications, 423K additions');
    expect(models.resnet20({ layer: 'conv' }).summaryText()).toContain('41M multiplications, 41.1M additions');
  });

  it('cuts long names to stay within 100 columns', () => {
    const long = 'a_layer_with_a_name_much_longer_than_any_table_column_should_ever_have_to_hold_in_full';
    const m = new Model(new nn.Sequential({ [long]: new nn.Flatten() }), { arch: 'custom', options: {}, inputShape: [1, 4, 4], numClasses: 16 });
    const s = m.summary();
    s.rows[0].type = 'AVeryLongTypeNameThatKeepsGoingAndGoingAndGoing';
    const lines = formatSummary(s).split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(SUMMARY_WIDTH);
    expect(lines.some((l) => l.startsWith('a_layer_with') && l.includes('~') && l.includes('[16]'))).toBe(true);
  });

  it('humanCount: three significant digits', () => {
    expect([0, 999, 1000, 6518, 416_520, 999_600, 40_813_184, 2.5e9].map(humanCount)).toEqual(['0', '999', '1K', '6.52K', '417K', '1M', '40.8M', '2.5G']);
  });
});
