/*
 * int8_math.h
 *	  The arithmetic of the device's int8 path (int8_plan.h), per element:
 *	  the codes of an activation row and the dequantized output.  Compiled
 *	  into the kernels (kernels_int8.cu) and, as plain C, into
 *	  test_gpu_logic, which checks it against the CPU engine's int8 path
 *	  without a GPU.  Each function rounds as the CPU's does (src/engine/
 *	  int8.h, int8_kernels.c, op_gemm_int8.c; pi_int8_code in pi_ir.h): the
 *	  kernels are built without FMA contraction (-fmad=false).
 */
#ifndef PI_CUDA_INT8_MATH_H
#define PI_CUDA_INT8_MATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define PI_INT8_HD __host__ __device__
#else
#define PI_INT8_HD
#endif

/* The bits of a float (which order non-negative floats as the values do). */
PI_INT8_HD static inline uint32_t
pi_gpu_float_bits(float x)
{
	uint32_t	b;

	memcpy(&b, &x, sizeof(b));
	return b;
}

/* The float of bits b. */
PI_INT8_HD static inline float
pi_gpu_bits_float(uint32_t b)
{
	float		x;

	memcpy(&x, &b, sizeof(x));
	return x;
}

/*
 * What a row's reduction keeps of one value, as the CPU's kernels: a
 * symmetric row the bits of |x| (an infinity or a NaN above every finite
 * value); a dynamic row the bits of a positive x and of |x| of a negative
 * one, each maximum apart.
 */
PI_INT8_HD static inline uint32_t
pi_gpu_int8_abs_bits(float x)
{
	return pi_gpu_float_bits(x) & 0x7fffffffu;
}

/* The bits of x when it is positive, else 0 (a dynamic row's maximum). */
PI_INT8_HD static inline uint32_t
pi_gpu_int8_pos_bits(float x)
{
	uint32_t	b = pi_gpu_float_bits(x);

	return b & ((b >> 31) - 1u);
}

/* The bits of |x| when x is negative, else 0 (a dynamic row's minimum). */
PI_INT8_HD static inline uint32_t
pi_gpu_int8_neg_bits(float x)
{
	uint32_t	b = pi_gpu_float_bits(x);

	return (b & 0x7fffffffu) & (0u - (b >> 31));
}

/* v rounded half to even (|v| < 2^22), as pi_round_code. */
PI_INT8_HD static inline float
pi_gpu_round_even(float v)
{
	return (v + 12582912.0f) - 12582912.0f;
}

/* How one activation row is quantized: its codes' parameters and what the output uses. */
typedef struct PiGpuInt8Row
{
	float		xs;				/* the row's scale; NaN when a value is not finite */
	int32_t		zp;				/* 128 for symmetric rows (no fix), else the zero point */
	float		inv;			/* symmetric: codes of x * inv */
	float		code_scale;		/* dynamic: codes of x / code_scale + code_zp */
	float		code_zp;
} PiGpuInt8Row;

/*
 * A symmetric row, from the largest |x|'s bits top: scale max |x| / 127
 * (NaN when a value is not finite: every output of the row is then NaN,
 * and its codes are 0).
 */
PI_INT8_HD static inline PiGpuInt8Row
pi_gpu_int8_symmetric_row(uint32_t top)
{
	PiGpuInt8Row r;
	float		amax = pi_gpu_bits_float(top);

	r.zp = 128;
	r.code_scale = 1.0f;
	r.code_zp = 0.0f;
	if (top >= 0x7f800000u)
	{
		r.xs = NAN;
		r.inv = 0.0f;
		return r;
	}
	r.xs = amax / 127.0f;
	r.inv = amax > 0.0f ? 127.0f / amax : 0.0f;
	return r;
}

/* The code v = u - 128 of x in a symmetric row: pi_int8_code(x * inv). */
PI_INT8_HD static inline int8_t
pi_gpu_int8_symmetric_code(float x, float inv)
{
	float		v = x * inv;

	v = v >= -127.0f ? v : -127.0f;
	v = v <= 127.0f ? v : 127.0f;
	return (int8_t) (int32_t) (v + (v < 0.0f ? -0.5f : 0.5f));
}

/*
 * A dynamic row as pi_int8_dynamic_params quantizes it, from the largest
 * positive value's bits pos and the largest magnitude of a negative one's,
 * neg: over [min(0, min x), max(0, max x)], scale (hi - lo) / 255 (1 when
 * that is 0), zero point round(-lo / scale); a row with a value not
 * finite gets a NaN scale and zero point 0, as on the CPU.
 */
PI_INT8_HD static inline PiGpuInt8Row
pi_gpu_int8_dynamic_row(uint32_t pos, uint32_t neg)
{
	PiGpuInt8Row r;
	float		hi = pi_gpu_bits_float(pos),
				lo = -pi_gpu_bits_float(neg),
				z;

	r.inv = 0.0f;
	r.code_scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
	z = -lo / r.code_scale;
	r.code_zp = pi_gpu_round_even(z < 0.0f ? 0.0f : z > 255.0f ? 255.0f : z);
	r.xs = pos >= 0x7f800000u || neg >= 0x7f800000u ? NAN : r.code_scale;
	r.zp = r.xs == r.xs ? (int32_t) r.code_zp : 0;
	return r;
}

/* The code v = u - 128 of x in a dynamic row: u = round(x / scale) + zero point in [0, 255]. */
PI_INT8_HD static inline int8_t
pi_gpu_int8_dynamic_code(float x, float code_scale, float code_zp)
{
	float		c = pi_gpu_round_even(x / code_scale) + code_zp;

	c = c >= 0.0f ? c : 0.0f;
	c = c <= 255.0f ? c : 255.0f;
	return (int8_t) ((int32_t) c - 128);
}

/* The code of x in row r (symmetric or dynamic). */
PI_INT8_HD static inline int8_t
pi_gpu_int8_code(const PiGpuInt8Row *r, bool dynamic, float x)
{
	return dynamic ? pi_gpu_int8_dynamic_code(x, r->code_scale, r->code_zp) :
		pi_gpu_int8_symmetric_code(x, r->inv);
}

/*
 * One output: the device's sum s, fixed to the CPU's (128 - zp) * colsum,
 * times xs * ws plus the bias, rounded as the CPU's portable kernel does.
 */
PI_INT8_HD static inline float
pi_gpu_int8_output(int32_t s, int32_t zp, int32_t colsum, float xs, float ws, float bias)
{
	int64_t		sum = (int64_t) s + (int64_t) (128 - zp) * colsum;

	return (float) sum * (xs * ws) + bias;
}

#endif							/* PI_CUDA_INT8_MATH_H */
