using TnDsl.Api;

namespace TnDsl.Cli.Drawing;

/// <summary>How a network was laid out, chosen from its structure.</summary>
public enum LayoutKind
{
    /// <summary>A path of tensors, drawn as a line (wrapped as a snake past <see cref="NetworkLayout.RowLength"/>).</summary>
    Chain,
    /// <summary>A tree that is not a path: layered from its centre, leaves spread evenly.</summary>
    Tree,
    /// <summary>Tensors in rows keyed by family and first subscript, columns by last subscript, all rows equally long.</summary>
    Grid,
    /// <summary>As <see cref="Grid"/>, rows of different lengths spread over one width (MERA levels, MPO on MPS).</summary>
    Layers,
    /// <summary>Any other graph: a seeded force-directed (Fruchterman–Reingold) layout.</summary>
    Force,
}

/// <summary>A bond of the drawing: the tensors an index joins (two for a bond, one for an open leg, more for a
/// hyperindex), its name and size; a wide one (a batch: dynamic, or on more than 8 tensors) is drawn as ticks.</summary>
public sealed record DrawnBond(int Index, string Name, long Size, int[] Tensors, bool Open, bool Wide);

/// <summary>Positions for every tensor of a network (y grows downwards), and the bonds between them.</summary>
public sealed record NetworkLayout(LayoutKind Kind, (double X, double Y)[] Positions, DrawnBond[] Bonds)
{
    /// <summary>The longest row of a chain before it wraps.</summary>
    public const int RowLength = 28;

    /// <summary>Lays out a flat network by its structure: a path as a line, a tree as a tree, subscripted families
    /// as rows and columns (a grid when every row is as long), anything else by force.</summary>
    public static NetworkLayout Of(NetworkView net)
    {
        int n = net.Tensors.Length;
        var holders = new List<int>[net.Indices.Length];
        for (int i = 0; i < holders.Length; i++)
            holders[i] = [];
        foreach (var t in net.Tensors)
            foreach (var l in t.Legs.Distinct())
                holders[l].Add(t.Id);
        var output = net.Output.ToHashSet();
        var bonds = net.Indices
            .Where(ix => holders[ix.Id].Count > 0)
            .Select(ix => new DrawnBond(ix.Id, ix.Name, ix.Size, holders[ix.Id].ToArray(), output.Contains(ix.Id),
                holders[ix.Id].Count > 2 && (ix.IsDynamic || holders[ix.Id].Count > 8)))
            .ToArray();
        var adjacency = Enumerable.Range(0, n).Select(_ => new HashSet<int>()).ToArray();
        // A wide hyperindex (a batch) says nothing about the shape: it is left out of the layout.
        foreach (var b in bonds.Where(b => !b.Wide))
            foreach (var a in b.Tensors)
                foreach (var c in b.Tensors)
                    if (a != c)
                        adjacency[a].Add(c);
        int edges = adjacency.Sum(s => s.Count) / 2;
        bool connected = Reach(adjacency, 0).Count == n;

        if (n == 1)
            return new(LayoutKind.Chain, [(0, 0)], bonds);
        bool tree = connected && edges == n - 1;
        var ends = Enumerable.Range(0, n).Where(v => adjacency[v].Count == 1).ToList();
        if (tree && ends.Count == 2)
            return new(LayoutKind.Chain, Chain(adjacency, ends[0]), bonds);
        // Families with subscripts say where their members sit (rows of a grid, levels of a tree or a MERA).
        if (net.Tensors.All(t => t.Subscripts.Length > 0) && Rows(net) is { } rows)
            return new(rows.Grid ? LayoutKind.Grid : LayoutKind.Layers, rows.Positions, bonds);
        if (tree)
            return new(LayoutKind.Tree, TreeLayout(adjacency), bonds);
        if (TreeAboveInputs(net, adjacency) is { } fed)
            return new(LayoutKind.Tree, fed, bonds);
        return new(LayoutKind.Force, Force(adjacency, seed: 1), bonds);
    }

    static HashSet<int> Reach(HashSet<int>[] adjacency, int from)
    {
        var seen = new HashSet<int> { from };
        var stack = new Stack<int>([from]);
        while (stack.Count > 0)
            foreach (var w in adjacency[stack.Pop()])
                if (seen.Add(w))
                    stack.Push(w);
        return seen;
    }

    /// A path from one end: a line, wrapped as a snake (boustrophedon) every RowLength tensors.
    static (double, double)[] Chain(HashSet<int>[] adjacency, int start)
    {
        var pos = new (double, double)[adjacency.Length];
        int prev = -1, at = start;
        for (int k = 0; k < adjacency.Length; k++)
        {
            int row = k / RowLength, col = k % RowLength;
            pos[at] = (row % 2 == 0 ? col : RowLength - 1 - col, row);
            int next = adjacency[at].FirstOrDefault(w => w != prev, -1);
            prev = at;
            at = next;
        }
        return pos;
    }

    /// A tree rooted at its centre (least eccentricity): depth down the page, leaves one unit apart in depth-first
    /// order, each inner tensor above the middle of its children.
    static (double, double)[] TreeLayout(HashSet<int>[] adjacency)
    {
        int n = adjacency.Length;
        int Eccentricity(int v)
        {
            var depth = new Dictionary<int, int> { [v] = 0 };
            var queue = new Queue<int>([v]);
            while (queue.Count > 0)
            {
                int u = queue.Dequeue();
                foreach (var w in adjacency[u])
                    if (depth.TryAdd(w, depth[u] + 1))
                        queue.Enqueue(w);
            }
            return depth.Values.Max();
        }
        int root = Enumerable.Range(0, n).MinBy(Eccentricity);
        var pos = new (double, double)[n];
        double nextLeaf = 0;
        double Place(int v, int parent, int depth)
        {
            var children = adjacency[v].Where(w => w != parent).Order().ToList();
            double x = children.Count == 0 ? nextLeaf++ : children.Select(c => Place(c, v, depth + 1)).Average();
            pos[v] = (x, depth);
            return x;
        }
        Place(root, -1, 0);
        return pos;
    }

    /// A tree of weights fed by inputs (a tree tensor network as a layer): when the tensors other than the inputs form
    /// a tree of three or more that is not a path, that tree is laid out as a tree and each input sits one level below the lowest of
    /// the tensors it joins, at the middle of them (an input joining every leaf: below the leaves' row, centred).
    /// Null when the rest is not such a tree, an input joins nothing else, or two tensors would coincide.
    static (double, double)[]? TreeAboveInputs(NetworkView net, HashSet<int>[] adjacency)
    {
        var inputs = net.Tensors.Where(t => t.IsInput).Select(t => t.Id).ToHashSet();
        var rest = Enumerable.Range(0, adjacency.Length).Where(v => !inputs.Contains(v)).ToArray();
        if (inputs.Count == 0 || rest.Length < 3 || inputs.Any(v => !adjacency[v].Any(w => !inputs.Contains(w))))
            return null;
        // The rest renumbered 0.., its adjacency without the inputs.
        var local = rest.Select((v, i) => (v, i)).ToDictionary(p => p.v, p => p.i);
        var sub = rest.Select(v => adjacency[v].Where(local.ContainsKey).Select(w => local[w]).ToHashSet()).ToArray();
        // A path (a tensor train fed by its input) is not a tree to draw as one: its centre as a root bends it in two.
        if (sub.Sum(s => s.Count) / 2 != rest.Length - 1 || Reach(sub, 0).Count != rest.Length || sub.All(s => s.Count <= 2))
            return null;
        var placed = TreeLayout(sub);
        var pos = new (double X, double Y)[adjacency.Length];
        foreach (var (v, i) in local)
            pos[v] = placed[i];
        foreach (var v in inputs)
        {
            var fed = adjacency[v].Where(local.ContainsKey).ToList();
            pos[v] = (fed.Average(w => pos[w].X), fed.Max(w => pos[w].Y) + 1);
        }
        if (pos.Distinct().Count() != pos.Length)
            return null;
        return pos.Select(p => (p.X, p.Y)).ToArray();
    }

    /// Rows keyed by (first subscript when there are two or more, family in order of appearance), columns by the
    /// last subscript; shorter rows are spread over the longest one's width. Null when two tensors would coincide.
    /// In a grid of several rows of one family (a PEPS) the other families sit diagonally off their partner, not in
    /// rows between, where the bonds between the main family's rows would pass through them.
    static ((double, double)[] Positions, bool Grid)? Rows(NetworkView net)
    {
        var families = net.Tensors.Select(t => t.Family).Distinct().ToList();
        var keys = net.Tensors
            .Select(t => (Lead: t.Subscripts.Length >= 2 ? t.Subscripts[0] : 0, Family: families.IndexOf(t.Family)))
            .ToArray();
        var rowOrder = keys.Distinct().OrderBy(k => k.Lead).ThenBy(k => k.Family).ToList();
        var members = rowOrder.ToDictionary(k => k, k => Enumerable.Range(0, keys.Length).Where(t => keys[t] == k)
            .OrderBy(t => net.Tensors[t].Subscripts.Last()).ToList());
        int width = members.Values.Max(m => m.Count);
        bool grid = members.Values.All(m => m.Count == width);
        int main = MainFamily(net, families);
        var leads = keys.Select(k => k.Lead).Distinct().Order().ToList();
        var byLead = leads.ToDictionary(l => l, l => rowOrder.Where(k => k.Lead == l).Select(k => k.Family)
            .OrderBy(f => f == main ? 0 : 1).ThenBy(f => f).ToList());
        bool diagonal = grid && leads.Count > 1 && byLead.Values.Any(fs => fs.Count > 1) && byLead.Values.All(fs => fs.Count <= Diagonals.Length + 1);
        int rows = diagonal ? leads.Count : rowOrder.Count;
        var pos = new (double, double)[net.Tensors.Length];
        var shift = new (double, double)[net.Tensors.Length];
        foreach (var (key, row) in members.Select(kv => (kv.Key, kv.Value)))
        {
            if (row.Select(t => net.Tensors[t].Subscripts.Last()).Distinct().Count() != row.Count)
                return null;
            int r = diagonal ? leads.IndexOf(key.Lead) : rowOrder.IndexOf(key);
            int j = diagonal ? byLead[key.Lead].IndexOf(key.Family) : 0;
            for (int k = 0; k < row.Count; k++)
            {
                pos[row[k]] = ((k + 0.5) * width / row.Count - 0.5, r);
                if (j > 0)
                    shift[row[k]] = (Diagonals[j - 1].X * 0.38, Diagonals[j - 1].Y * 0.38);
            }
        }
        // Long equal rows (a Born machine's 784 sites) fold into blocks of RowLength columns, one block of rows
        // under the other with a gap, as a snake: every other block runs right to left, so that the bond from a
        // block's last column to the next block's first stays short. The other families step a little aside, off
        // that bond's path.
        if (grid && width > RowLength * 3 / 2)
            for (int t = 0; t < pos.Length; t++)
            {
                int col = (int)Math.Round(pos[t].Item1), block = col / RowLength;
                int c = block % 2 == 0 ? col % RowLength : RowLength - 1 - col % RowLength;
                pos[t] = (c, pos[t].Item2 + block * (rows + 0.6));
                if (!diagonal && keys[t].Family != main)
                    shift[t] = (0.35, 0);
            }
        for (int t = 0; t < pos.Length; t++)
            pos[t] = (pos[t].Item1 + shift[t].Item1, pos[t].Item2 + shift[t].Item2);
        return (pos, grid && rows > 1);
    }

    /// Where a grid's other families sit off their partner (y down): up-left first, then the other diagonals.
    static readonly (double X, double Y)[] Diagonals = [(-1, -1), (1, -1), (-1, 1), (1, 1)];

    /// The family with the most bonds among its own members (the chain or lattice the others hang from); the first
    /// such in order of appearance.
    static int MainFamily(NetworkView net, List<string> families)
    {
        var within = new int[families.Count];
        var holders = new Dictionary<int, List<int>>();
        foreach (var t in net.Tensors)
            foreach (var l in t.Legs.Distinct())
                (holders.TryGetValue(l, out var h) ? h : holders[l] = []).Add(t.Id);
        foreach (var h in holders.Values)
            if (h.Count == 2 && net.Tensors[h[0]].Family == net.Tensors[h[1]].Family)
                within[families.IndexOf(net.Tensors[h[0]].Family)]++;
        return Array.IndexOf(within, within.Max());
    }

    /// Fruchterman–Reingold from a circle, seeded, with cooling; positions scaled so that the mean edge is 1.
    static (double, double)[] Force(HashSet<int>[] adjacency, int seed)
    {
        int n = adjacency.Length;
        var rng = new Random(seed);
        var x = new double[n];
        var y = new double[n];
        for (int v = 0; v < n; v++)
        {
            double a = 2 * Math.PI * v / n;
            x[v] = Math.Cos(a) * Math.Sqrt(n) + 0.01 * rng.NextDouble();
            y[v] = Math.Sin(a) * Math.Sqrt(n) + 0.01 * rng.NextDouble();
        }
        double k = 1.0, temperature = Math.Sqrt(n);
        // Each iteration weighs every pair: past a few thousand tensors the iterations shrink so that the whole layout
        // weighs at most 4e8 pairs (a ring of 30,000 took 15 minutes at 100 iterations; past 20,000 it stays a circle).
        int iterations = n <= 400 ? 400 : (int)Math.Min(100, 4e8 / ((double)n * n));
        var dx = new double[n];
        var dy = new double[n];
        for (int it = 0; it < iterations; it++)
        {
            Array.Clear(dx);
            Array.Clear(dy);
            for (int u = 0; u < n; u++)
                for (int v = u + 1; v < n; v++)
                {
                    double ex = x[u] - x[v], ey = y[u] - y[v], d2 = Math.Max(ex * ex + ey * ey, 1e-6);
                    double f = k * k / d2;
                    dx[u] += ex * f; dy[u] += ey * f;
                    dx[v] -= ex * f; dy[v] -= ey * f;
                }
            for (int u = 0; u < n; u++)
                foreach (var v in adjacency[u])
                    if (u < v)
                    {
                        double ex = x[u] - x[v], ey = y[u] - y[v], d = Math.Max(Math.Sqrt(ex * ex + ey * ey), 1e-3);
                        double f = d / k;
                        dx[u] -= ex * f; dy[u] -= ey * f;
                        dx[v] += ex * f; dy[v] += ey * f;
                    }
            for (int u = 0; u < n; u++)
            {
                double d = Math.Max(Math.Sqrt(dx[u] * dx[u] + dy[u] * dy[u]), 1e-9), step = Math.Min(d, temperature);
                x[u] += dx[u] / d * step;
                y[u] += dy[u] / d * step;
            }
            temperature *= 0.985;
        }
        double mean = 0;
        int count = 0;
        for (int u = 0; u < n; u++)
            foreach (var v in adjacency[u])
                if (u < v)
                {
                    mean += Math.Sqrt((x[u] - x[v]) * (x[u] - x[v]) + (y[u] - y[v]) * (y[u] - y[v]));
                    count++;
                }
        double scale = count == 0 ? 1 : count / mean;
        return Enumerable.Range(0, n).Select(v => (x[v] * scale, y[v] * scale)).ToArray();
    }
}
