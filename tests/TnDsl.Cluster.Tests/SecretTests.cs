using Orleans.Runtime;
using Xunit;

namespace TnDsl.Cluster.Tests;

/// <summary>The call tokens alone, without a cluster: what a worker accepts and what it refuses.</summary>
public sealed class SecretTests
{
    private static readonly ClusterSecret Secret = ClusterSecret.FromText(TestClusters.Secret);
    private static readonly GrainId Worker = GrainId.Create("worker", "127.0.0.1:11111@1");

    [Fact]
    public void a_fresh_token_of_the_secret_is_accepted_for_its_own_call_only()
    {
        var token = Secret.Token(Worker, "IWorkerGrain.Contract");
        Assert.True(Secret.Accepts(token, Worker, "IWorkerGrain.Contract"));
        Assert.False(Secret.Accepts(token, Worker, "IWorkerGrain.Load"));
        Assert.False(Secret.Accepts(token, GrainId.Create("worker", "127.0.0.1:11112@1"), "IWorkerGrain.Contract"));
    }

    [Fact]
    public void tokens_of_another_secret_stale_ones_and_garbage_are_refused()
    {
        var other = ClusterSecret.FromText("another-secret-of-16-bytes-or-more");
        Assert.False(Secret.Accepts(other.Token(Worker, "m"), Worker, "m"));
        Assert.False(Secret.Accepts(Secret.Token(Worker, "m", DateTime.UtcNow - ClusterSecret.Freshness - TimeSpan.FromSeconds(5)), Worker, "m"));
        Assert.False(Secret.Accepts(Secret.Token(Worker, "m", DateTime.UtcNow + ClusterSecret.Freshness + TimeSpan.FromSeconds(5)), Worker, "m"));
        Assert.True(Secret.Accepts(Secret.Token(Worker, "m", DateTime.UtcNow - TimeSpan.FromMinutes(1)), Worker, "m"));
        var token = Secret.Token(Worker, "m");
        var tampered = token[..^2] + (token[^2] == 'A' ? "B" : "A") + token[^1];
        foreach (var bad in new object?[] { null, "", "1:2", "x:y:z", "99999999999999999999:ab:cd", tampered, 42 })
            Assert.False(Secret.Accepts(bad, Worker, "m"));
    }

    [Fact]
    public void a_secret_shorter_than_16_bytes_is_refused() =>
        Assert.Throws<ArgumentException>(() => ClusterSecret.FromText("0123456789abcde"));

    [Fact]
    public void a_secret_is_read_from_a_file_before_the_environment_and_trimmed()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "  " + TestClusters.Secret + "\n");
            var fromFile = ClusterSecret.Find(file)!;
            Assert.True(Secret.Accepts(fromFile.Token(Worker, "m"), Worker, "m"));
            File.WriteAllText(file, "too short\n");
            Assert.Throws<ArgumentException>(() => ClusterSecret.Find(file));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
