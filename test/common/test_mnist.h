/*
 * test_mnist.h
 *	  The MNIST test set (gzip'd idx files of ../shared/data/mnist) for the
 *	  standalone programs that check a model's accuracy, and the engine's
 *	  count of correct classifications.
 */
#ifndef TEST_MNIST_H
#define TEST_MNIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pi_ir.h"

/* Images of 28x28 pixels (0..255, row-major, 784 bytes each) and their labels. */
typedef struct TestMnist
{
	const uint8_t *images;
	const uint8_t *labels;
	uint32_t	count;
	uint8_t    *image_file;		/* the files as read; images and labels point into them */
	uint8_t    *label_file;
} TestMnist;

/*
 * Reads and checks the idx files (magic numbers, 28x28 images, counts and
 * sizes that agree); false, with why filled in, when they are not MNIST.
 */
bool		test_mnist_load(const char *images_path, const char *labels_path, TestMnist *out,
							char *why, size_t why_len);

/* Frees what test_mnist_load read. */
void		test_mnist_free(TestMnist *mnist);

/*
 * Classifies the test images (pixels 0..255 as they are: the model's options
 * scale them) in batches of batch rows; the number correct, -1 if the model
 * cannot run.
 */
int			test_mnist_correct(const PiModel *m, const TestMnist *mnist, int64_t batch);

#endif							/* TEST_MNIST_H */
