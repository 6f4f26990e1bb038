/*
 * simd.h
 *	  The vector primitives the CPU kernels (kernels_template.h) are written
 *	  against, for the instruction set the including file names:
 *	  PI_SIMD_AVX512, PI_SIMD_AVX2, or neither (portable GCC vector
 *	  extensions).  Every function carries PI_TARGET, the target attribute
 *	  of its instruction set, so that the rest of the library is built for
 *	  the baseline CPU and these run only where cpu.c found the instructions.
 *
 * vf is a vector of VW floats; the *_n forms touch only the first n lanes
 * (0 <= n <= VW) and read nothing past them (vkeep_n zeroes the others,
 * vload_fill fills them with a value); vload_bits reads only the lanes
 * whose bit is set (the others are 0), wherever the rest points, and
 * vstore_bits writes only those.  vhmax is
 * the largest lane (whether a NaN lane shows is unspecified); vmax_nan is
 * NaN-propagating; veven(a, b) is the even lanes of a followed by those of
 * b, vodd(a, b) their odd lanes so, veven4 and vodd4 the same of quarters
 * of a vector; vinterleave the lanes of a and b in turn.
 */
#ifndef PI_SIMD_H
#define PI_SIMD_H

#include <math.h>
#include <stdint.h>

#if defined(PI_SIMD_AVX512)

#include <immintrin.h>

#define PI_TARGET __attribute__((target("avx512f,avx2,fma")))
#define VW 16
#define MR_MAX 12				/* GEMM tile rows: 2 x 12 accumulators of 32 */
typedef __m512 vf;

PI_TARGET static inline __mmask16
lanes(int n)
{
	return (__mmask16) ((1u << n) - 1);
}
PI_TARGET static inline vf vzero(void) { return _mm512_setzero_ps(); }
PI_TARGET static inline vf vset1(float x) { return _mm512_set1_ps(x); }
PI_TARGET static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
PI_TARGET static inline vf vload_n(const float *p, int n) { return _mm512_maskz_loadu_ps(lanes(n), p); }
PI_TARGET static inline vf vload_bits(const float *p, uint32_t bits) { return _mm512_maskz_loadu_ps((__mmask16) bits, p); }
PI_TARGET static inline void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
PI_TARGET static inline void vstore_n(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, lanes(n), v); }
PI_TARGET static inline void vstore_bits(float *p, vf v, uint32_t bits) { _mm512_mask_storeu_ps(p, (__mmask16) bits, v); }
PI_TARGET static inline vf vkeep_n(vf v, int n) { return _mm512_maskz_mov_ps(lanes(n), v); }
PI_TARGET static inline vf vkeep_bits(vf v, uint32_t bits) { return _mm512_maskz_mov_ps((__mmask16) bits, v); }
PI_TARGET static inline vf vload_fill(const float *p, int n, float fill) { return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lanes(n), p); }
PI_TARGET static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
PI_TARGET static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
PI_TARGET static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
/* max(a, b) for ordered lanes; the intrinsic returns b where either is NaN */
PI_TARGET static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
PI_TARGET static inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
PI_TARGET static inline float vsum(vf a) { return _mm512_reduce_add_ps(a); }
PI_TARGET static inline float vhmax(vf a) { return _mm512_reduce_max_ps(a); }

/* lane i is lane i + n of a then b, for 0 <= n <= VW */
PI_TARGET static inline vf
vconcat(vf a, vf b, int n)
{
	__m512i		at = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
									  _mm512_set1_epi32(n));

	return _mm512_permutex2var_ps(a, at, b);
}

/* the even lanes of a then b */
PI_TARGET static inline vf
veven(vf a, vf b)
{
	return _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22,
													   24, 26, 28, 30), b);
}

/* the odd lanes of a then b */
PI_TARGET static inline vf
vodd(vf a, vf b)
{
	return _mm512_permutex2var_ps(a, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23,
													   25, 27, 29, 31), b);
}

/* the even quarters of a then b */
PI_TARGET static inline vf veven4(vf a, vf b) { return _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)); }

/* the odd quarters of a then b */
PI_TARGET static inline vf vodd4(vf a, vf b) { return _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)); }

/* a and b interleaved (a0 b0 a1 b1 ...): the first VW lanes in *lo, the rest in *hi */
PI_TARGET static inline void
vinterleave(vf a, vf b, vf *lo, vf *hi)
{
	*lo = _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21,
													  6, 22, 7, 23), b);
	*hi = _mm512_permutex2var_ps(a, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29,
													  14, 30, 15, 31), b);
}

/* max(a, b), NaN where either lane is NaN */
PI_TARGET static inline vf
vmax_nan(vf a, vf b)
{
	return _mm512_mask_add_ps(_mm512_max_ps(a, b), _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q), a, b);
}

/* x where x >= 0 (or NaN), else alpha * x */
PI_TARGET static inline vf
vleaky(vf x, float alpha)
{
	return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), x,
							  _mm512_set1_ps(alpha));
}

/* p * 2^n for integer-valued n (inf and 0 past the range; NaN stays NaN) */
PI_TARGET static inline vf
vscale2(vf p, vf n)
{
	return _mm512_scalef_ps(p, n);
}

#elif defined(PI_SIMD_AVX2)

#include <immintrin.h>

#define PI_TARGET __attribute__((target("avx2,fma")))
#define VW 8
#define MR_MAX 6				/* 2 x 6 accumulators of 16 ymm registers */
typedef __m256 vf;

PI_TARGET static inline __m256i
lanes(int n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
PI_TARGET static inline vf vzero(void) { return _mm256_setzero_ps(); }
PI_TARGET static inline vf vset1(float x) { return _mm256_set1_ps(x); }
PI_TARGET static inline vf vload(const float *p) { return _mm256_loadu_ps(p); }
PI_TARGET static inline vf vload_n(const float *p, int n) { return _mm256_maskload_ps(p, lanes(n)); }

/* the lanes whose bit is set, as a maskload/maskstore mask */
PI_TARGET static inline __m256i
bit_lanes(uint32_t bits)
{
	__m256i		bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);

	return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(bits), bit), bit);
}
PI_TARGET static inline vf vload_bits(const float *p, uint32_t bits) { return _mm256_maskload_ps(p, bit_lanes(bits)); }
PI_TARGET static inline void vstore_bits(float *p, vf v, uint32_t bits) { _mm256_maskstore_ps(p, bit_lanes(bits), v); }
PI_TARGET static inline void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
PI_TARGET static inline void vstore_n(float *p, vf v, int n) { _mm256_maskstore_ps(p, lanes(n), v); }
PI_TARGET static inline vf vkeep_n(vf v, int n) { return _mm256_and_ps(v, _mm256_castsi256_ps(lanes(n))); }
PI_TARGET static inline vf vkeep_bits(vf v, uint32_t bits) { return _mm256_and_ps(v, _mm256_castsi256_ps(bit_lanes(bits))); }

/* lane i is lane i + n of a then b, for 0 <= n <= VW */
PI_TARGET static inline vf
vconcat(vf a, vf b, int n)
{
	__m256i		at = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(n));

	return _mm256_blendv_ps(_mm256_permutevar8x32_ps(a, at), _mm256_permutevar8x32_ps(b, at),
							_mm256_castsi256_ps(_mm256_cmpgt_epi32(at, _mm256_set1_epi32(VW - 1))));
}
PI_TARGET static inline vf vload_fill(const float *p, int n, float fill) { return _mm256_blendv_ps(_mm256_set1_ps(fill), vload_n(p, n), _mm256_castsi256_ps(lanes(n))); }
PI_TARGET static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
PI_TARGET static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
PI_TARGET static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
PI_TARGET static inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
PI_TARGET static inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }

PI_TARGET static inline float
vsum(vf a)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

PI_TARGET static inline float
vhmax(vf a)
{
	__m128		s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));

	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

PI_TARGET static inline vf
veven(vf a, vf b)
{
	__m256		t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));

	return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

PI_TARGET static inline vf
vodd(vf a, vf b)
{
	__m256		t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));

	return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

PI_TARGET static inline vf
veven4(vf a, vf b)
{
	__m256d		t = _mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(b));

	return _mm256_castpd_ps(_mm256_permute4x64_pd(t, _MM_SHUFFLE(3, 1, 2, 0)));
}

PI_TARGET static inline vf
vodd4(vf a, vf b)
{
	__m256d		t = _mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(b));

	return _mm256_castpd_ps(_mm256_permute4x64_pd(t, _MM_SHUFFLE(3, 1, 2, 0)));
}

PI_TARGET static inline void
vinterleave(vf a, vf b, vf *lo, vf *hi)
{
	__m256		l = _mm256_unpacklo_ps(a, b),
				h = _mm256_unpackhi_ps(a, b);

	*lo = _mm256_permute2f128_ps(l, h, 0x20);
	*hi = _mm256_permute2f128_ps(l, h, 0x31);
}

PI_TARGET static inline vf
vmax_nan(vf a, vf b)
{
	return _mm256_blendv_ps(_mm256_max_ps(a, b), _mm256_add_ps(a, b), _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
}

PI_TARGET static inline vf
vleaky(vf x, float alpha)
{
	return _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(alpha)),
							_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

/* p * 2^n for integer-valued n in [-252, 254], in two exponent steps */
PI_TARGET static inline vf
vscale2(vf p, vf n)
{
	__m256i		ni = _mm256_cvtps_epi32(n);
	__m256i		n1 = _mm256_srai_epi32(ni, 1);
	__m256i		bias = _mm256_set1_epi32(127);
	__m256		f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
	__m256		f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, n1), bias), 23));

	return _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
}

#else							/* portable: GCC vector extensions */

#define PI_TARGET
#define VW 4
#define MR_MAX 6
typedef float vf __attribute__((vector_size(16)));
typedef int32_t vi __attribute__((vector_size(16)));

static inline vf vzero(void) { return (vf) {0, 0, 0, 0}; }
static inline vf vset1(float x) { return (vf) {x, x, x, x}; }
static inline vf vfma(vf a, vf b, vf c) { return a * b + c; }
static inline vf vadd(vf a, vf b) { return a + b; }
static inline vf vmul(vf a, vf b) { return a * b; }
static inline float vsum(vf a) { return (a[0] + a[1]) + (a[2] + a[3]); }

static inline vf
vload(const float *p)
{
	vf			v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static inline void
vstore(float *p, vf v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

static inline vf
vload_n(const float *p, int n)
{
	vf			v = vzero();

	for (int i = 0; i < n; i++)
		v[i] = p[i];
	return v;
}

static inline vf
vload_bits(const float *p, uint32_t bits)
{
	vf			v = vzero();

	for (int i = 0; i < VW; i++)
		if (bits & (1u << i))
			v[i] = p[i];
	return v;
}

static inline void
vstore_n(float *p, vf v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = v[i];
}

static inline void
vstore_bits(float *p, vf v, uint32_t bits)
{
	for (int i = 0; i < VW; i++)
		if (bits & (1u << i))
			p[i] = v[i];
}

static inline vf
vload_fill(const float *p, int n, float fill)
{
	vf			v = vset1(fill);

	for (int i = 0; i < n; i++)
		v[i] = p[i];
	return v;
}

static inline float
vhmax(vf a)
{
	float		m = a[0];

	for (int i = 1; i < VW; i++)
		m = a[i] > m ? a[i] : m;
	return m;
}

static inline vf
vkeep_n(vf v, int n)
{
	for (int i = n; i < VW; i++)
		v[i] = 0.0f;
	return v;
}

static inline vf
vkeep_bits(vf v, uint32_t bits)
{
	for (int i = 0; i < VW; i++)
		if (!(bits & (1u << i)))
			v[i] = 0.0f;
	return v;
}

/* lane i is lane i + n of a then b, for 0 <= n <= VW */
static inline vf
vconcat(vf a, vf b, int n)
{
	float		t[2 * VW];

	vstore(t, a);
	vstore(t + VW, b);
	return vload(t + n);
}

/* lanes of a where m is set, else of b */
static inline vf
vselect(vi m, vf a, vf b)
{
	return (vf) (((vi) a & m) | ((vi) b & ~m));
}

/* b where a > b fails (as the x86 instruction: b on NaN) */
static inline vf vmax(vf a, vf b) { return vselect(a > b, a, b); }
static inline vf vmin(vf a, vf b) { return vselect(a < b, a, b); }

static inline vf
veven(vf a, vf b)
{
	return (vf) {a[0], a[2], b[0], b[2]};
}

static inline vf
vodd(vf a, vf b)
{
	return (vf) {a[1], a[3], b[1], b[3]};
}

static inline vf veven4(vf a, vf b) { return veven(a, b); }
static inline vf vodd4(vf a, vf b) { return vodd(a, b); }

static inline void
vinterleave(vf a, vf b, vf *lo, vf *hi)
{
	*lo = (vf) {a[0], b[0], a[1], b[1]};
	*hi = (vf) {a[2], b[2], a[3], b[3]};
}

static inline vf
vmax_nan(vf a, vf b)
{
	return vselect((a != a) | (b != b), a + b, vmax(a, b));
}

static inline vf
vleaky(vf x, float alpha)
{
	return vselect(x < vzero(), x * alpha, x);
}

/* p * 2^n for integer-valued n in [-252, 254], in two exponent steps (NaN n counts as 0) */
static inline vf
vscale2(vf p, vf n)
{
	vi			ni = __builtin_convertvector(vselect(n == n, n, vzero()), vi);
	vi			n1 = ni >> 1;

	return p * (vf) ((n1 + 127) << 23) * (vf) ((ni - n1 + 127) << 23);
}

#endif

/*
 * e^x, within 2 ulp (Cephes' polynomial after x = n ln 2 + r); inf past
 * 88.73, 0 below -103.9, NaN for NaN.
 */
PI_TARGET static inline vf
vexp(vf x)
{
	const vf	magic = vset1(12582912.0f);	/* 1.5 * 2^23: adding it rounds */
	vf			n,
				r,
				p;

	/* vmax and vmin return their second operand on NaN: NaN stays NaN */
	x = vmin(vset1(89.0f), vmax(vset1(-104.0f), x));
	n = (x * vset1(1.44269504088896341f) + magic) - magic;
	r = x - n * vset1(0.693359375f);
	r = r - n * vset1(-2.12194440e-4f);
	p = vfma(vset1(1.9875691500e-4f), r, vset1(1.3981999507e-3f));
	p = vfma(p, r, vset1(8.3334519073e-3f));
	p = vfma(p, r, vset1(4.1665795894e-2f));
	p = vfma(p, r, vset1(1.6666665459e-1f));
	p = vfma(p, r, vset1(5.0000001201e-1f));
	p = vfma(p, r * r, r + vset1(1.0f));
	return vscale2(p, n);
}

/*
 * erf(x), within a few ulp: a rational function of x over [-4, 4] (odd
 * numerator, even denominator), +-1 beyond; NaN for NaN.
 */
PI_TARGET static inline vf
verf(vf x)
{
	vf			x2,
				p,
				q;

	x = vmin(vset1(4.0f), vmax(vset1(-4.0f), x));
	x2 = x * x;
	p = vfma(x2, vset1(-2.72614225801306e-10f), vset1(2.77068142495902e-08f));
	p = vfma(x2, p, vset1(-2.10102402082508e-06f));
	p = vfma(x2, p, vset1(-5.69250639462346e-05f));
	p = vfma(x2, p, vset1(-7.34990630326855e-04f));
	p = vfma(x2, p, vset1(-2.95459980854025e-03f));
	p = vfma(x2, p, vset1(-1.60960333262415e-02f));
	q = vfma(x2, vset1(-1.45660718464996e-05f), vset1(-2.13374055278905e-04f));
	q = vfma(x2, q, vset1(-1.68282697438203e-03f));
	q = vfma(x2, q, vset1(-7.37332916720468e-03f));
	q = vfma(x2, q, vset1(-1.42647390514189e-02f));
	return x * p / q;
}

#endif							/* PI_SIMD_H */
