package main

import (
	"strings"
	"testing"
)

func TestSummaryCLI(t *testing.T) {
	// Keras 3.8's model.summary() footers for keras.applications.<Arch>(include_top=False,
	// input_shape=(256, 256, 3)) + the paper's head with AveragePooling2D((4, 4)).
	for _, tc := range []struct {
		arch   string
		footer []string
		row    string
	}{
		{"mobilenet", []string{
			" Total params: 8,123,746 (30.99 MB)",
			" Trainable params: 8,101,794 (30.91 MB)",
			" Non-trainable params: 21,952 (85.75 KB)",
		}, "│ conv_dw_1 (DepthwiseConv2D)          │ (None, 128, 128, 32)        │             288 │"},
		{"xception", []string{
			" Total params: 29,950,666 (114.25 MB)",
			" Trainable params: 29,896,074 (114.04 MB)",
			" Non-trainable params: 54,592 (213.25 KB)",
		}, "│ block1_conv1 (Conv2D)         │ (None, 127, 127, 32)      │             864 │ input_layer[0][0]          │"},
		{"inceptionv3", []string{
			" Total params: 24,600,514 (93.84 MB)",
			" Trainable params: 24,566,018 (93.71 MB)",
			" Non-trainable params: 34,496 (134.75 KB)",
		}, "│ mixed10 (Concatenate)         │ (None, 6, 6, 2048)        │               0 │ activation_85[0][0],       │"},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "summary", "--arch", tc.arch)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			want := strings.Join(tc.footer, "\n") + "\n"
			if !strings.HasSuffix(stdout, want) {
				t.Errorf("summary ends with\n%s\nwant\n%s", stdout[max(0, len(stdout)-len(want)-200):], want)
			}
			if !strings.Contains(stdout, tc.row+"\n") {
				t.Errorf("summary lacks the row %q", tc.row)
			}
		})
	}
}

func TestSummaryCLIBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"summary"}, exitUsage, `Required flag "arch"`},
		{[]string{"summary", "--arch", "vgg16"}, exitUsage, "use one of mobilenet, xception, inceptionv3"},
		{[]string{"summary", "--arch", "mobilenet", "--pool", "sum"}, exitUsage, "use avg or max"},
		{[]string{"summary", "--arch", "mobilenet", "--input-size", "0"}, exitUsage, "positive"},
		{[]string{"summary", "--arch", "mobilenet", "extra"}, exitUsage, "no arguments"},
		{[]string{"summary", "--arch", "mobilenet", "--input-size", "100"}, exitUsage, "--input-size 100: too small for mobilenet: its feature map would be smaller than the head's 4x4 pooling; use 127 or more"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if len(tc.args) == 1 {
			stdout = "" // urfave/cli prints the command's help with a missing required flag
		}
		if code != tc.code || !strings.Contains(stderr, tc.want) || stdout != "" || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit %d and one line with %q", tc.args, code, stderr, stdout, tc.code, tc.want)
		}
	}
}
