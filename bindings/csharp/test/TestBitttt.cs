// The C# binding against the engine, in TAP: the original's memory-effect
// check, results equal across array, Span and pointer forms, state and
// weight file round trips, and the engine's codes in the exceptions for bad
// input and bad files.
using System;
using BitTTT;

static class TestBitttt
{
    const int D = 64, N = 40;
    static int n, failed;

    static void Ok(bool cond, string what)
    {
        Console.WriteLine((cond ? "ok " : "not ok ") + (++n) + " - " + what);
        if (!cond)
            failed++;
    }

    // f must throw BitTTTException with this status and the engine's text
    static void Throws(Status code, string text, Action f, string what)
    {
        try {
            f();
            Ok(false, what + ": threw nothing");
        } catch (BitTTTException e) {
            Ok(e.Status == code && e.Code == (int)code && e.Message.Contains(text), what + ": " + e.Code + ", \"" + e.Message + "\"");
        }
    }

    static bool Same(float[] a, float[] b, int off = 0, int len = -1)
    {
        if (len < 0)
            len = a.Length;
        for (int i = 0; i < len; i++)
            if (BitConverter.SingleToInt32Bits(a[off + i]) != BitConverter.SingleToInt32Bits(b[off + i]))
                return false;
        return true;
    }

    // a and b, which ran the same forwards, run x: the same outputs,
    // surprises and tokens seen, bit for bit
    static bool Twins(Model a, Model b, float[] x)
    {
        int tokens = x.Length / a.HiddenDim;
        float[] ya = new float[x.Length], yb = new float[x.Length], sa = new float[tokens], sb = new float[tokens];
        a.Forward(x, ya, sa);
        b.Forward(x, yb, sb);
        return Same(ya, yb) && Same(sa, sb) && a.Stats.TokensSeen == b.Stats.TokensSeen;
    }

    static float[] Fill(int count, ulong seed)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            x[i] = (float)((seed >> 40) / 8388608.0 - 1.0);
        }
        return x;
    }

    static unsafe int Main()
    {
        float[] input = Fill(N * D, 0x9e3779b97f4a7c15UL), output = new float[N * D], s = new float[N];

        using (var m = new Model(D)) {
            Ok(m.HiddenDim == D && m.GetConfig().StateDim == D / 4 && m.InnerLr == 0.01f && m.Learning,
               "new Model(64): D 64, d 16, eta 0.01, learning (" + m.KernelName + " kernels, libbitttt " + Model.Version + ")");

            // the original's check: a fresh model passes its first token through bit for bit
            m.Forward(input, output, s);
            Ok(Same(input, output, 0, D) && Math.Abs(s[0] - 1.0f / (D / 4)) < 1e-6f,
               "first output equals its input bit for bit, surprise " + s[0]);

            // ... and a repeated token's output moves
            var seq = new float[6 * D];
            for (int t = 0; t < 6; t++)
                Array.Copy(input, (t % 3) * D, seq, t * D, D);
            var so = new float[seq.Length];
            m.Reset();
            m.Forward(seq, so);
            double diff = 0;
            for (int i = 0; i < D; i++)
                diff += Math.Abs(so[3 * D + i] - seq[3 * D + i]);
            Ok(Same(seq, so, 0, D) && diff > 1e-3, "memory effect: token 0 again differs by " + diff);

            // the three forms give the same bits
            var viaSpan = new float[N * D];
            var sSpan = new float[N];
            m.Reset();
            m.Forward(new ReadOnlySpan<float>(input), viaSpan.AsSpan(), sSpan.AsSpan());
            var viaPtr = new float[N * D];
            m.Reset();
            fixed (float* i = input)
            fixed (float* o = viaPtr)
                m.Forward(i, N, o);
            var inPlace = (float[])input.Clone();
            m.Reset();
            m.Forward(inPlace, inPlace);
            Ok(Same(output, viaSpan) && Same(s, sSpan) && Same(output, viaPtr) && Same(output, inPlace) && m.Stats.TokensSeen == N,
               "array, Span, pointer and in-place forwards agree bit for bit");

            // bad input raises with the engine's code and text; nothing changes
            Throws(Status.InvalidArg, "invalid argument", () => new Model(6), "new Model(6), D not a multiple of 4");
            Throws(Status.InvalidArg, "invalid argument", () => m.Forward(new float[D + 1], new float[D + 1]), "forward of a partial token");
            Throws(Status.InvalidArg, "invalid argument", () => m.Forward(input, new float[D]), "forward with a short output");
            Throws(Status.InvalidArg, "invalid argument", () => m.Forward(input, output, new float[1]), "forward with a short surprise");
            Throws(Status.InvalidArg, "invalid argument", () => m.Forward(new float[0], new float[0]), "forward of 0 tokens");
            Throws(Status.InvalidArg, "invalid argument", () => m.InnerLr = float.NaN, "InnerLr = NaN");
            var bad = Config.Default(16);
            bad.Objective = 99;
            Throws(Status.InvalidArg, "invalid argument", () => new Model(bad), "new Model(cfg) with objective 99");
            Ok(m.InnerLr == 0.01f && m.Stats.TokensSeen == N, "after the errors: eta and counters unchanged");

            // state: save, learn on, load, replay
            m.Reset();
            m.Forward(new ReadOnlySpan<float>(input, 0, N / 2 * D), new float[N / 2 * D]);
            byte[] state = m.SaveState();
            var tail = new ReadOnlySpan<float>(input, N / 2 * D, N / 2 * D);
            float[] t1 = new float[N / 2 * D], t2 = new float[N / 2 * D];
            m.Forward(tail, t1);
            m.LoadState(state);
            m.Forward(tail, t2);
            Ok(Same(t1, t2) && Same(t1, new ReadOnlySpan<float>(output, N / 2 * D, N / 2 * D).ToArray()),
               "SaveState (" + state.Length + " bytes), LoadState, replay == first run");
            var corrupt = (byte[])state.Clone();
            corrupt[corrupt.Length / 2] ^= 1;
            Throws(Status.Format, "corrupt", () => m.LoadState(corrupt), "LoadState of a corrupt state");
            var other = Config.Default(D);
            other.Seed = 7;
            using (var m7 = new Model(other))
                Throws(Status.Mismatch, "another shape", () => m7.LoadState(state), "LoadState into other projections");

            string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bitttt-cs-" + Guid.NewGuid().ToString("N"));
            System.IO.Directory.CreateDirectory(dir);
            try {
                string path = System.IO.Path.Combine(dir, "m\u00e9.state");
                m.SaveFile(path);
                m.Forward(tail, t1);
                m.LoadFile(path);
                m.Forward(tail, t2);
                Ok(Same(t1, t2) && System.IO.File.Exists(path), "SaveFile, LoadFile (UTF-8 path), replay == first run");
                Throws(Status.IO, "input/output", () => m.LoadFile(System.IO.Path.Combine(dir, "missing")), "LoadFile of a missing file");
            } finally {
                System.IO.Directory.Delete(dir, true);
            }

            // weight files: the projections of a seed-7 model, saved, loaded
            // into default-seed models from the file and from its bytes
            string wdir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bitttt-cs-w-" + Guid.NewGuid().ToString("N"));
            System.IO.Directory.CreateDirectory(wdir);
            try {
                string wpath = System.IO.Path.Combine(wdir, "layer\u00e9.safetensors");
                float[] want = new float[N * D], got = new float[N * D], plain = new float[N * D];
                float[] sWant = new float[N], sGot = new float[N];
                var seven = Config.Default(D);
                seven.Seed = 7;
                using (var m7 = new Model(seven)) {
                    m7.SaveWeights(wpath, "C# test: seed 7");
                    m7.Forward(input, want, sWant);
                }
                using (var fresh = new Model(D))
                    fresh.Forward(input, plain);
                using (var mw = new Model(D)) {
                    mw.LoadWeights(wpath);
                    mw.Forward(input, got, sGot);
                    Ok(Same(want, got) && Same(sWant, sGot) && !Same(want, plain),
                       "SaveWeights of a seed-7 model, LoadWeights (UTF-8 path) into a default-seed one: the seed-7 outputs bit for bit");
                }
                byte[] file = System.IO.File.ReadAllBytes(wpath);
                using (var mw = new Model(D)) {
                    mw.LoadWeights(file);
                    mw.Forward(input, got, sGot);
                    Ok(Same(want, got) && Same(sWant, sGot), "LoadWeights of the file's " + file.Length + " bytes: the same outputs");
                    Ok(System.Text.Encoding.UTF8.GetString(file).Contains("C# test: seed 7"), "the file holds the training_data text");
                }

                // bad files: the engine's code and text. They go into a
                // default-seed model that has learned from a forward, so a
                // load that applied part of the seed-7 file, or reset the
                // learned state, before refusing it sets the model apart from
                // its twin, which ran the same forwards and no loads.
                using (var victim = new Model(D))
                using (var twin = new Model(D)) {
                    victim.Forward(input, got);
                    twin.Forward(input, got);
                    Throws(Status.IO, "input/output", () => victim.LoadWeights(System.IO.Path.Combine(wdir, "missing")), "LoadWeights of a missing file");
                    var garbage = (byte[])file.Clone();
                    garbage[8] = (byte)'[';  // the header's JSON no longer an object
                    Throws(Status.Weights, "weight file malformed", () => victim.LoadWeights(garbage), "LoadWeights of a corrupt header");
                    Throws(Status.Weights, "weight file malformed", () => victim.LoadWeights(new ReadOnlySpan<byte>(file, 0, file.Length - 1)),
                           "LoadWeights of a truncated file");
                    string badPath = System.IO.Path.Combine(wdir, "bad.safetensors");
                    System.IO.File.WriteAllBytes(badPath, new byte[] { 1, 2, 3 });
                    Throws(Status.Weights, "weight file malformed", () => victim.LoadWeights(badPath), "LoadWeights of a 3-byte file");
                    Ok(Twins(victim, twin, input), "after the failed loads: the projections and learned state untouched");
                }
                using (var m32 = new Model(32))
                using (var twin32 = new Model(32)) {
                    float[] x32 = Fill(4 * 32, 5), y32 = new float[x32.Length];
                    m32.Forward(x32, y32);
                    twin32.Forward(x32, y32);
                    Throws(Status.WeightsMismatch, "another shape", () => m32.LoadWeights(wpath), "LoadWeights of a D=64 file into a D=32 model");
                    Throws(Status.WeightsMismatch, "another shape", () => m32.LoadWeights(file), "the same from memory");
                    Ok(Twins(m32, twin32, x32), "the D=32 model is unchanged and still runs");
                }
                Throws(Status.IO, "input/output", () => m.SaveWeights(System.IO.Path.Combine(wdir, "no", "such.safetensors")),
                       "SaveWeights into a missing directory");
                Throws(Status.InvalidArg, "invalid argument", () => m.SaveWeights(null), "SaveWeights(null)");
            } finally {
                System.IO.Directory.Delete(wdir, true);
            }

            m.Dispose();
            try {
                m.Forward(input, output);
                Ok(false, "forward after Dispose: threw nothing");
            } catch (ObjectDisposedException) {
                Ok(true, "forward after Dispose throws ObjectDisposedException");
            }
        }

        Console.WriteLine("1.." + n);
        return failed == 0 ? 0 : 1;
    }
}
