// C# binding for libbitttt, the Bit-TTT layer: P/Invoke over the C ABI of
// <bitttt/bitttt.h>, no maths of its own. C# 7.2 (Mono's mcs 6.8, .NET
// Framework 4.7+, .NET Core 2.1+, Unity 2021+); compile with -unsafe.
//
//     using (var m = new BitTTT.Model(128)) {
//         float[] x = new float[10 * 128], y = new float[x.Length], s = new float[10];
//         m.Forward(x, y, s);            // 10 tokens; Span<float> and pointers work too
//     }
//
// The native library is imported as "bitttt" (Model.LibraryName): .NET and
// Unity look for bitttt.dll on Windows and libbitttt.so on Linux; Mono on
// Linux also reads Bitttt.dll.config, which maps it to the soname
// libbitttt.so.1. docs/bindings.md gives the mapping for every runtime.
//
// Ownership: a Model owns its native model through a SafeHandle, freed by
// Dispose() or, if forgotten, by the finalizer. A call on a disposed Model
// throws ObjectDisposedException.
//
// Threading: the C library's rule. One thread at a time per Model; distinct
// Models are independent. The SafeHandle keeps the native model alive until
// a running call returns, so Dispose() racing a call cannot free it under
// that call, but it is still a misuse.
//
// Errors: a failing engine call throws BitTTTException with the engine's
// ttt_error code (Code, Status) and ttt_strerror() text; the model is left
// as it was. Forward does not allocate. The weight file calls are new in
// library 1.2: with an older one (no such entry point) they throw
// Status.Unsupported, like a build without json-c.
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace BitTTT
{
    /// <summary>ttt_error: the engine's codes, fixed forever.</summary>
    public enum Status
    {
        Ok = 0,
        InvalidArg = -1,
        NoMem = -2,
        Overflow = -3,
        IO = -4,
        Format = -5,
        Version = -6,
        Mismatch = -7,
        BufferSmall = -8,
        Unsupported = -9,      // not in this build: weight files need json-c (or a library before 1.2)
        Weights = -10,         // weight file malformed
        WeightsMismatch = -11, // weight file for another shape, objective, feature norm or residual
    }

    /// <summary>A failed engine call. Message: the call, then ttt_strerror(Code).</summary>
    public class BitTTTException : Exception
    {
        public BitTTTException(int code, string where)
            : base(where + ": " + Native.Text(Native.ttt_strerror(code)))
        {
            Code = code;
        }

        /// <summary>The engine's ttt_error value (negative).</summary>
        public int Code { get; }
        public Status Status => (Status)Code;
    }

    /// <summary>ttt_config, field for field. Start from Config.Default(D).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Config
    {
        uint structSize;
        public uint MaxIsa;     // ttt_isa: 0 auto, 1 scalar, 2 avx2, 3 avx512, 4 neon, 5 neon-dotprod
        UIntPtr hiddenDim;
        UIntPtr stateDim;
        public float InnerLr;
        int learning;
        public ulong Seed;
        public uint Objective;   // ttt_objective: 0 reconstruct, 1 multiview, 2 next
        public uint FeatureNorm; // ttt_feature_norm: 0 auto, 1 L2, 2 none
        public uint Update;      // ttt_update: 0 gradient, 1 NLMS
        public float Forget;
        int residual;

        /// <summary>ttt_config_default() with hidden_dim set.</summary>
        public static Config Default(int hiddenDim)
        {
            var cfg = new Config();
            Native.ttt_config_default(ref cfg);
            cfg.HiddenDim = hiddenDim;
            return cfg;
        }

        public int HiddenDim { get => checked((int)hiddenDim.ToUInt64()); set => hiddenDim = Native.Size(value); }
        /// <summary>d; 0 = D / 4.</summary>
        public int StateDim { get => checked((int)stateDim.ToUInt64()); set => stateDim = Native.Size(value); }
        public bool Learning { get => learning != 0; set => learning = value ? 1 : 0; }
        public bool Residual { get => residual != 0; set => residual = value ? 1 : 0; }
    }

    /// <summary>ttt_stats: counters since creation or the last Reset().</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Stats
    {
        public ulong TokensSeen;
        public ulong TokensSkipped;
    }

    /// <summary>Owns one ttt_model; ttt_destroy() runs exactly once.</summary>
    public sealed class ModelHandle : SafeHandle
    {
        ModelHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle()
        {
            Native.ttt_destroy(handle);
            return true;
        }
    }

    /// <summary>One Bit-TTT layer with its learned state.</summary>
    public sealed class Model : IDisposable
    {
        /// <summary>The name every DllImport here uses.</summary>
        public const string LibraryName = Native.Lib;

        readonly ModelHandle h;

        /// <summary>The original ttt_create(): default configuration, D = hiddenDim.</summary>
        public Model(int hiddenDim, float innerLr = 0.01f) : this(WithLr(Config.Default(hiddenDim), innerLr)) { }

        /// <summary>ttt_create_ex(): any configuration.</summary>
        public Model(Config cfg)
        {
            Native.Check(Native.ttt_create_ex(ref cfg, out h), "ttt_create_ex");
            HiddenDim = cfg.HiddenDim;
        }

        /// <summary>D, the floats in one token.</summary>
        public int HiddenDim { get; }

        /// <summary>
        /// ttt_forward_ex(): input holds whole tokens of HiddenDim floats,
        /// row-major; output as many floats (it may be input: in place);
        /// surprise, unless empty, one float per token. Returns the tokens run.
        /// </summary>
        public unsafe int Forward(ReadOnlySpan<float> input, Span<float> output, Span<float> surprise)
        {
            int n = Tokens(input.Length, output.Length);
            if (surprise.Length != 0 && surprise.Length != n)
                throw new BitTTTException((int)Status.InvalidArg, "BitTTT.Model.Forward: surprise must hold one float per token");
            fixed (float* i = &MemoryMarshal.GetReference(input))
            fixed (float* o = &MemoryMarshal.GetReference(output))
            fixed (float* s = &MemoryMarshal.GetReference(surprise))
                Forward(i, n, o, surprise.Length != 0 ? s : null);
            return n;
        }

        public int Forward(ReadOnlySpan<float> input, Span<float> output) => Forward(input, output, Span<float>.Empty);
        public int Forward(float[] input, float[] output, float[] surprise = null) => Forward(input, output, surprise.AsSpan());

        /// <summary>The pointer form (NativeArray, stackalloc, unmanaged memory): nTokens x HiddenDim floats.</summary>
        public unsafe void Forward(float* input, long nTokens, float* output, float* surprise = null)
        {
            if (nTokens < 0)
                throw new BitTTTException((int)Status.InvalidArg, "BitTTT.Model.Forward: negative token count");
            Native.Check(Native.ttt_forward_ex(h, input, (UIntPtr)(ulong)nTokens, output, surprise), "ttt_forward_ex");
        }

        /// <summary>Forget what was learned (W = 0, counters 0); the projections stay.</summary>
        public void Reset() => Native.Check(Native.ttt_reset(h), "ttt_reset");

        public float InnerLr
        {
            get => Native.ttt_get_inner_lr(h);
            set => Native.Check(Native.ttt_set_inner_lr(h, value), "ttt_set_inner_lr");
        }

        public bool Learning
        {
            get => Native.ttt_get_learning(h) != 0;
            set => Native.Check(Native.ttt_set_learning(h, value ? 1 : 0), "ttt_set_learning");
        }

        /// <summary>The effective configuration (state_dim and feature_norm resolved).</summary>
        public Config GetConfig()
        {
            var cfg = Config.Default(0);
            Native.Check(Native.ttt_get_config(h, ref cfg), "ttt_get_config");
            return cfg;
        }

        public Stats Stats
        {
            get
            {
                Native.Check(Native.ttt_get_stats(h, out Stats st), "ttt_get_stats");
                return st;
            }
        }

        /// <summary>"scalar", "avx2", "avx2-vnni", "avx512" or "avx512-vnni" (one table), or the table per slot.</summary>
        public string KernelName => Native.Text(Native.ttt_get_kernel_name(h));

        /// <summary>ttt_state_save() into a new array of exactly ttt_state_size() bytes.</summary>
        public unsafe byte[] SaveState()
        {
            var buf = new byte[checked((int)Native.ttt_state_size(h).ToUInt64())];
            fixed (byte* p = buf)
                Native.Check(Native.ttt_state_save(h, p, (UIntPtr)buf.Length, out UIntPtr _), "ttt_state_save");
            return buf;
        }

        /// <summary>ttt_state_load(): validated first; on any error the model is unchanged.</summary>
        public unsafe void LoadState(ReadOnlySpan<byte> state)
        {
            fixed (byte* p = &MemoryMarshal.GetReference(state))
                Native.Check(Native.ttt_state_load(h, p, (UIntPtr)state.Length), "ttt_state_load");
        }

        public void LoadState(byte[] state) => LoadState((ReadOnlySpan<byte>)state);

        /// <summary>ttt_state_save_file(): atomic replace of path (passed as UTF-8).</summary>
        public void SaveFile(string path) => Native.Check(Native.ttt_state_save_file(h, Native.Utf8(path)), "ttt_state_save_file");
        public void LoadFile(string path) => Native.Check(Native.ttt_state_load_file(h, Native.Utf8(path)), "ttt_state_load_file");

        /// <summary>
        /// ttt_load_weights(): the projections of a weight file (safetensors,
        /// docs/TRAINING.md) instead of the seed-drawn ones; path passed as
        /// UTF-8. Its shape, objective, feature norm and residual must be the
        /// model's (Status.WeightsMismatch). Resets the learned state; on any
        /// error the model is unchanged.
        /// </summary>
        public void LoadWeights(string path)
        {
            int rc;
            try {
                rc = Native.ttt_load_weights(h, Native.Utf8(path));
            } catch (EntryPointNotFoundException) {
                rc = (int)Status.Unsupported;
            }
            Native.Check(rc, "ttt_load_weights");
        }

        /// <summary>ttt_load_weights_mem(): LoadWeights from the bytes of a weight file.</summary>
        public unsafe void LoadWeights(ReadOnlySpan<byte> file)
        {
            int rc;
            fixed (byte* p = &MemoryMarshal.GetReference(file)) {
                try {
                    rc = Native.ttt_load_weights_mem(h, p, (UIntPtr)file.Length);
                } catch (EntryPointNotFoundException) {
                    rc = (int)Status.Unsupported;
                }
            }
            Native.Check(rc, "ttt_load_weights_mem");
        }

        public void LoadWeights(byte[] file) => LoadWeights((ReadOnlySpan<byte>)file);

        /// <summary>
        /// ttt_save_weights(): the model's projections (seed-drawn or loaded)
        /// as a weight file at path (written beside it, then renamed over it);
        /// trainingData is stored as its free-text description.
        /// </summary>
        public void SaveWeights(string path, string trainingData = null)
        {
            int rc;
            try {
                rc = Native.ttt_save_weights(h, Native.Utf8(path), Native.Utf8(trainingData));
            } catch (EntryPointNotFoundException) {
                rc = (int)Status.Unsupported;
            }
            Native.Check(rc, "ttt_save_weights");
        }

        public void Dispose() => h.Dispose();

        /// <summary>"MAJOR.MINOR.PATCH" of the library actually loaded.</summary>
        public static string Version => Native.Text(Native.ttt_version_string());
        /// <summary>Best ISA of this CPU (ttt_isa), capped by TTT_FORCE_ISA.</summary>
        public static int CpuIsa => Native.ttt_cpu_isa();

        static Config WithLr(Config cfg, float innerLr)
        {
            cfg.InnerLr = innerLr;
            return cfg;
        }

        int Tokens(int inLen, int outLen)
        {
            if (inLen % HiddenDim != 0 || outLen != inLen)
                throw new BitTTTException((int)Status.InvalidArg,
                    "BitTTT.Model.Forward: input must hold whole tokens and output as many floats");
            return inLen / HiddenDim;
        }
    }

    static unsafe class Native
    {
        internal const string Lib = "bitttt";
        const CallingConvention C = CallingConvention.Cdecl;

        [DllImport(Lib, CallingConvention = C)] internal static extern void ttt_config_default(ref Config cfg);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_create_ex(ref Config cfg, out ModelHandle model);
        [DllImport(Lib, CallingConvention = C)] internal static extern void ttt_destroy(IntPtr model);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern int ttt_forward_ex(ModelHandle m, float* input, UIntPtr n, float* output, float* surprise);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_reset(ModelHandle m);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_set_inner_lr(ModelHandle m, float eta);
        [DllImport(Lib, CallingConvention = C)] internal static extern float ttt_get_inner_lr(ModelHandle m);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_set_learning(ModelHandle m, int on);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_get_learning(ModelHandle m);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_get_config(ModelHandle m, ref Config cfg);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_get_stats(ModelHandle m, out Stats st);
        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr ttt_get_kernel_name(ModelHandle m);
        [DllImport(Lib, CallingConvention = C)] internal static extern UIntPtr ttt_state_size(ModelHandle m);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern int ttt_state_save(ModelHandle m, byte* buf, UIntPtr cap, out UIntPtr written);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_state_load(ModelHandle m, byte* buf, UIntPtr len);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_state_save_file(ModelHandle m, byte[] path);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_state_load_file(ModelHandle m, byte[] path);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_load_weights(ModelHandle m, byte[] path);
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_load_weights_mem(ModelHandle m, byte* buf, UIntPtr len);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern int ttt_save_weights(ModelHandle m, byte[] path, byte[] trainingData);
        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr ttt_strerror(int err);
        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr ttt_version_string();
        [DllImport(Lib, CallingConvention = C)] internal static extern int ttt_cpu_isa();

        internal static void Check(int rc, string where)
        {
            if (rc != 0)
                throw new BitTTTException(rc, where);
        }

        // the engine's strings are static ASCII
        internal static string Text(IntPtr s) => Marshal.PtrToStringAnsi(s);

        // NUL-terminated UTF-8, whatever the platform's ANSI code page
        internal static byte[] Utf8(string s)
        {
            if (s == null)
                return null;
            var b = new byte[Encoding.UTF8.GetByteCount(s) + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        internal static UIntPtr Size(int v)
        {
            if (v < 0)
                throw new BitTTTException((int)Status.InvalidArg, "BitTTT.Config: negative size");
            return (UIntPtr)(uint)v;
        }
    }
}
