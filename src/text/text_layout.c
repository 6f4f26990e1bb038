/*
 * text_layout.c
 *	  Which inputs of a text model (a BERT-style encoder) take the token ids,
 *	  the attention mask and the token types, and the sequence length and
 *	  width of the token vectors it returns.
 */
#include <string.h>

#include "text_internal.h"

/* Records input i in the slot its name calls for. */
static PiStatus
assign_input(PiTextLayout *layout, const PiValue *v, int i, PiError *err)
{
	static const char *const names[3] = {"input_ids", "attention_mask", "token_type_ids"};
	int		   *slots[3] = {&layout->ids_input, &layout->mask_input, &layout->type_input};

	for (int k = 0; k < 3; k++)
		if (strcmp(v->name, names[k]) == 0)
		{
			*slots[k] = i;
			return PI_OK;
		}
	return pi_fail(err, PI_ERR_INVALID,
				   "input \"%s\" is not one a text model takes: input_ids, attention_mask, token_type_ids",
				   v->name);
}

/* Finds the text inputs of model and checks their shapes and output 0's. */
PiStatus
pi_text_layout(const PiModel *model, PiTextLayout *layout, PiError *err)
{
	const PiValue *out = &model->values[model->outputs[0]];
	PiStatus	st;

	layout->ids_input = layout->mask_input = layout->type_input = -1;
	for (int i = 0; i < model->ninputs; i++)
		if ((st = assign_input(layout, &model->values[model->inputs[i]], i, err)) != PI_OK)
			return st;
	if (layout->ids_input < 0)
		return pi_fail(err, PI_ERR_INVALID, "a text model needs an input named \"input_ids\"");
	layout->length = pi_value_row_elems(&model->values[model->inputs[layout->ids_input]]);
	for (int i = 0; i < model->ninputs; i++)
	{
		const PiValue *v = &model->values[model->inputs[i]];

		if (v->rank != 2 || pi_value_row_elems(v) != layout->length)
			return pi_fail(err, PI_ERR_SHAPE, "text model input \"%s\" must be [batch, %lld] like input_ids",
						   v->name, (long long) layout->length);
	}
	if (out->rank != 3 || out->dims[1] != layout->length)
		return pi_fail(err, PI_ERR_SHAPE, "a text model's first output (\"%s\") must be [batch, %lld, hidden], one vector per token",
					   out->name, (long long) layout->length);
	layout->hidden = out->dims[2];
	return PI_OK;
}
