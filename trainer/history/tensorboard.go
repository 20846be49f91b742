package history

import (
	"errors"
	"path/filepath"

	"github.com/xraylab/xray/internal/tensorboard"
)

// TensorBoard writes a run's TensorBoard scalars the way Keras's TensorBoard callback lays
// them out: DIR/train holds batch_loss, batch_accuracy and batch_learning_rate at every
// update (step = update number) and epoch_loss, epoch_accuracy and epoch_learning_rate
// per epoch (step = epoch, 1-based); DIR/validation holds epoch_loss, epoch_accuracy and
// epoch_auc. A nil *TensorBoard writes nothing.
type TensorBoard struct {
	train, val *tensorboard.Writer
}

// NewTensorBoard creates dir/train and dir/validation.
func NewTensorBoard(dir string) (*TensorBoard, error) {
	tr, err := tensorboard.NewWriter(filepath.Join(dir, "train"))
	if err != nil {
		return nil, err
	}
	va, err := tensorboard.NewWriter(filepath.Join(dir, "validation"))
	if err != nil {
		tr.Close()
		return nil, err
	}
	return &TensorBoard{train: tr, val: va}, nil
}

// Step records one update's batch loss, accuracy and learning rate.
func (l *TensorBoard) Step(step int64, loss, accuracy, lr float64) error {
	if l == nil {
		return nil
	}
	return errors.Join(l.train.Scalar("batch_loss", step, loss), l.train.Scalar("batch_accuracy", step, accuracy),
		l.train.Scalar("batch_learning_rate", step, lr))
}

// Epoch records an epoch's averages and validation metrics, and flushes both files so a
// running TensorBoard sees the epoch.
func (l *TensorBoard) Epoch(e EpochStats) error {
	if l == nil {
		return nil
	}
	s := int64(e.Epoch)
	return errors.Join(l.train.Scalar("epoch_loss", s, e.Loss), l.train.Scalar("epoch_accuracy", s, e.Accuracy),
		l.train.Scalar("epoch_learning_rate", s, e.LR),
		l.val.Scalar("epoch_loss", s, e.ValLoss), l.val.Scalar("epoch_accuracy", s, e.ValAccuracy),
		l.val.Scalar("epoch_auc", s, e.ValAUC), l.train.Flush(), l.val.Flush())
}

// Close flushes and closes both files.
func (l *TensorBoard) Close() error {
	if l == nil {
		return nil
	}
	return errors.Join(l.train.Close(), l.val.Close())
}
