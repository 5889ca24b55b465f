import CBLAS

/// Thin, row-major wrappers over OpenBLAS, named after the operation (Caffe's `caffe_cpu_gemm`).
public enum BLAS {
    /// C = alpha · op(A) · op(B) + beta · C, with op(A) M×K, op(B) K×N, C M×N, all row-major.
    @inlinable @inline(__always)
    public static func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(transposeA ? m : k), b, Int32(transposeB ? k : n), beta, c, Int32(n))
    }

    /// The same on sub-matrices: `lda`, `ldb`, `ldc` are the row strides of the matrices that
    /// A, B and C are blocks of (a block of columns of a wider matrix, say).
    @inlinable @inline(__always)
    public static func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y = alpha · op(A) · x + beta · y, with A M×N row-major (row stride `lda`), op(A) = A or Aᵀ.
    /// For a batch of one, where a GEMM with one row runs several times slower.
    @inlinable @inline(__always)
    public static func gemv(transposeA: Bool = false, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// Σ x[i]·y[i] over `count` elements, summed in Float by OpenBLAS's vector kernels.
    @inlinable @inline(__always)
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        cblas_sdot(Int32(count), x, 1, y, 1)
    }

    /// The number of threads OpenBLAS uses for one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }
}

extension BLAS {
    /// `gemm` on contiguous matrices with C's rows or columns, whichever are more, split across
    /// `Parallel.threads` (OpenBLAS itself runs one thread; see `Parallel`). Each thread owns a
    /// block of C, so results do not depend on the thread count.
    public static func parallelGemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                                    a: UnsafePointer<Float>, b: UnsafePointer<Float>, beta: Float = 0, c: UnsafeMutablePointer<Float>) {
        let lda = transposeA ? m : k, ldb = transposeB ? k : n
        if n >= m {
            Parallel.forChunks(of: n, minimumPerChunk: 16) { _, columns in
                gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: columns.count, k: k, a: a, lda: lda,
                     b: transposeB ? b + columns.lowerBound * ldb : b + columns.lowerBound, ldb: ldb,
                     beta: beta, c: c + columns.lowerBound, ldc: n)
            }
        } else {
            Parallel.forChunks(of: m, minimumPerChunk: 16) { _, rows in
                gemm(transposeA: transposeA, transposeB: transposeB, m: rows.count, n: n, k: k,
                     a: transposeA ? a + rows.lowerBound : a + rows.lowerBound * lda, lda: lda, b: b, ldb: ldb,
                     beta: beta, c: c + rows.lowerBound * n, ldc: n)
            }
        }
    }
}
