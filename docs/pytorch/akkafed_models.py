"""AkkaFed's models as PyTorch modules: the names and shapes of AkkaFed's model.pt and model.safetensors.

    import torch
    from akkafed_models import MODELS

    model = MODELS["cnn"]()                                # akkafed --model cnn (the default)
    model.load_state_dict(torch.load("out/model.pt"))
    logits = model(images)                                 # images: [batch, 1, 28, 28], pixels scaled to [0, 1]

Each maps [batch, 1, 28, 28] images to 10 logits (the softmax lives in the loss). A state dict saved from one of
these, torch.save(model.state_dict(), "start.pt"), starts an AkkaFed run: akkafed simulate --initial-model start.pt.
The README shows the same classes; tests/Host.Tests/PyTorchInteropTests.cs checks them against AkkaFed's own.
"""
import torch
from torch import nn
import torch.nn.functional as F


class Cnn(nn.Module):
    """akkafed --model cnn: TensorFlow Federated's MNIST tutorial CNN (54,410 parameters)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 32, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(32 * 13 * 13, 10)

    def forward(self, x):
        return self.fc(self.pool(F.relu(self.conv(x))).flatten(1))


class McMahanCnn(nn.Module):
    """akkafed --model mcmahan-cnn: McMahan et al. (2017)'s MNIST CNN (1,663,370 parameters)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 7 * 7, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class TwoNN(nn.Module):
    """akkafed --model 2nn: McMahan et al. (2017)'s 2NN, 784-200-200-10 (199,210 parameters)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 200)
        self.fc2 = nn.Linear(200, 200)
        self.fc3 = nn.Linear(200, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


MODELS = {"cnn": Cnn, "mcmahan-cnn": McMahanCnn, "2nn": TwoNN}
