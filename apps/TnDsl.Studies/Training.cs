using System.Diagnostics;
using Spectre.Console;
using TnDsl.Native;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Studies;

/// <summary>How to train a classifier.</summary>
public sealed record TrainSettings
{
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 2;
    /// <summary>Examples per optimisation step.</summary>
    public int BatchSize { get; init; } = 100;
    /// <summary>Adam's learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Seed of the shuffling.</summary>
    public long Seed { get; init; }
    /// <summary>Show a Spectre.Console progress bar (off for tests and redirected output).</summary>
    public bool Progress { get; init; } = true;
    /// <summary>Where to write a TorchSharp state_dict after each epoch (null: no checkpoints).</summary>
    public string? CheckpointPath { get; init; }
}

/// <summary>What one epoch of training gave.</summary>
/// <param name="Epoch">1-based.</param>
/// <param name="Loss">Mean training cross-entropy over the epoch.</param>
/// <param name="TestAccuracy">Accuracy on the evaluation set after the epoch (NaN when none was given).</param>
/// <param name="Seconds">Wall-clock training time of the epoch (evaluation excluded).</param>
public sealed record EpochResult(int Epoch, double Loss, double TestAccuracy, double Seconds);

/// <summary>
/// A plain supervised loop: Adam (TnDsl.Torch's <see cref="Adam"/>, whose step keeps its Scalars alive through each
/// native call) on cross-entropy over shuffled mini-batches, with a progress bar, a per-epoch evaluation and optional
/// checkpoints. Every temporary of a step lives in a dispose scope.
/// </summary>
public static class Trainer
{
    /// <summary>
    /// Trains <paramref name="model"/> (inputs → class scores) on (x, y) and evaluates on (testX, testY) after each
    /// epoch; <paramref name="afterEpoch"/> runs after each evaluation (studies measure things there).
    /// </summary>
    public static List<EpochResult> Fit(string title, nn.Module<Tensor, Tensor> model, Tensor x, Tensor y, Tensor? testX, Tensor? testY,
        TrainSettings settings, Action<EpochResult>? afterEpoch = null)
    {
        var results = new List<EpochResult>();
        using var optimizer = new Adam(model.parameters(), settings.LearningRate);
        using var generator = new Generator((ulong)settings.Seed);
        long n = x.shape[0];
        int steps = (int)((n + settings.BatchSize - 1) / settings.BatchSize);
        void Loop(Action<int, double> progress)
        {
            for (int epoch = 1; epoch <= settings.Epochs; epoch++)
            {
                model.train();
                var clock = Stopwatch.StartNew();
                double total = 0;
                using (var order = randperm(n, generator: generator))
                {
                    for (int s = 0; s < steps; s++)
                    {
                        using var scope = NewDisposeScope();
                        var idx = order.narrow(0, s * (long)settings.BatchSize, Math.Min(settings.BatchSize, n - s * (long)settings.BatchSize));
                        var logits = model.forward(x.index_select(0, idx));
                        var loss = nn.functional.cross_entropy(logits, y.index_select(0, idx));
                        optimizer.zero_grad();
                        loss.backward();
                        optimizer.step();
                        double value = loss.item<float>();
                        if (!double.IsFinite(value))
                            throw new StudyException($"{title}: the training loss became {value} at epoch {epoch}, step {s + 1}; lower the learning rate");
                        total += value * idx.shape[0];
                        progress(epoch, value);
                    }
                }
                double seconds = clock.Elapsed.TotalSeconds;
                double accuracy = testX is null || testY is null ? double.NaN : Accuracy(model, testX, testY, settings.BatchSize * 10);
                var result = new EpochResult(epoch, total / n, accuracy, seconds);
                results.Add(result);
                if (settings.CheckpointPath is { } path)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                    SafeFile.Replace(path, temp => model.save(temp));
                }
                afterEpoch?.Invoke(result);
            }
        }
        if (settings.Progress && AnsiConsole.Profile.Capabilities.Interactive)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(title), maxValue: (double)steps * settings.Epochs);
                    Loop((epoch, loss) =>
                    {
                        task.Description = Markup.Escape($"{title} epoch {epoch}/{settings.Epochs} loss {loss:0.000}");
                        task.Increment(1);
                    });
                });
        }
        else
        {
            int done = 0, total = steps * settings.Epochs, shown = -1;
            Loop((epoch, loss) =>
            {
                int pct = ++done * 10 / total;
                if (settings.Progress && pct != shown)
                {
                    shown = pct;
                    Console.Error.WriteLine($"  {title}: epoch {epoch}/{settings.Epochs}, {pct * 10}% , loss {loss:0.000}");
                }
            });
        }
        return results;
    }

    /// <summary>The fraction of (x, y) that <paramref name="model"/> classifies right, in evaluation mode.</summary>
    public static double Accuracy(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y, int batchSize = 1000)
    {
        model.eval();
        using var noGrad = no_grad();
        long n = x.shape[0], right = 0;
        for (long start = 0; start < n; start += batchSize)
        {
            using var scope = NewDisposeScope();
            long len = Math.Min(batchSize, n - start);
            var predicted = model.forward(x.narrow(0, start, len)).argmax(1);
            right += predicted.eq(y.narrow(0, start, len)).sum().item<long>();
        }
        return n == 0 ? double.NaN : (double)right / n;
    }

    /// <summary>The number of trainable scalars of a module.</summary>
    public static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.numel());
}

/// <summary>A study that cannot run or went wrong (missing data, diverging loss): the message says what to do.</summary>
public sealed class StudyException(string message) : Exception(message);
