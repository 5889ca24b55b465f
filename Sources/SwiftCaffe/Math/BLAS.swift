import CBLAS

/// Thin, row-major wrappers over OpenBLAS, named after the operation (Caffe's `caffe_cpu_gemm`).
public enum BLAS {
    /// C = alpha · op(A) · op(B) + beta · C, with op(A) M×K, op(B) K×N, C M×N, all row-major.
    @inline(__always)
    public static func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(transposeA ? m : k), b, Int32(transposeB ? k : n), beta, c, Int32(n))
    }

    /// The same on sub-matrices: `lda`, `ldb`, `ldc` are the row strides of the matrices that
    /// A, B and C are blocks of (a block of columns of a wider matrix, say).
    @inline(__always)
    public static func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The number of threads OpenBLAS uses for one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }
}
