using TnDsl.Data;

namespace TnDsl.Studies;

/// <summary>What an image study is given: the data sets, how many images of each it uses, how it trains and where its
/// tables and plots go. Each study's settings add their own and set their defaults in their constructor.</summary>
public abstract record ImageStudySettings
{
    /// <summary>The data sets, in order.</summary>
    public DatasetName[] Datasets { get; init; } = [DatasetName.Mnist, DatasetName.FashionMnist];
    /// <summary>Training images per data set (the first ones).</summary>
    public long TrainLimit { get; init; } = 10000;
    /// <summary>Test images per data set.</summary>
    public long TestLimit { get; init; } = 2000;
    /// <summary>Training settings.</summary>
    public TrainSettings Train { get; init; } = new();
    /// <summary>Where tables and plots go (null: not saved).</summary>
    public string? OutputDirectory { get; init; }
}
