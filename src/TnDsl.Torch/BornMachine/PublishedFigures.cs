namespace TnDsl.Torch.BornMachine;

/// <summary>
/// The authors' final training NLL (nats per image) on the 1000-image MNIST set, by maximum bond dimension, as
/// listed in the data's README (Han et al., PRX 8, 031012, 2018; repository congzlwag/UnsupGenModbyMPS).
/// </summary>
public static class PublishedFigures
{
    /// <summary>Dmax → final training NLL.</summary>
    public static readonly IReadOnlyDictionary<int, double> MnistTrainNll = new Dictionary<int, double>
    {
        [10] = 95.19, [20] = 77.10, [30] = 67.00, [40] = 60.14, [50] = 55.06, [70] = 47.54, [100] = 39.86,
        [150] = 31.96, [200] = 26.83, [300] = 20.09, [400] = 15.96, [500] = 12.95, [750] = 8.65, [1000] = 7.08,
        [1300] = 6.96,
    };

    /// <summary>The NLL floor of the 1000 distinct training images: ln 1000.</summary>
    public static double MnistFloor => Math.Log(1000);

    /// <summary>The NLL floor of the 30 bars-and-stripes images: ln 30.</summary>
    public static double BarsAndStripesFloor => Math.Log(30);
}
