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
    /// <summary>A network fed by input tensors: rows by how far each tensor is from the inputs, the inputs at the
    /// bottom (one input feeding several tensors drawn as a bar under them), each row ordered by its neighbours'
    /// places (MERA levels, a tensor train above its input).</summary>
    Layered,
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

    /// <summary>The inputs drawn as a bar under the tensors they feed (a <see cref="LayoutKind.Layered"/> layout's one
    /// input joining several tensors): each bond to it drops straight down onto the bar; its position is the bar's middle.</summary>
    public IReadOnlyList<int> Bars { get; init; } = [];

    /// <summary>Lays out a flat network by its structure: a path as a line, a tree as a tree, subscripted families
    /// as rows and columns (a grid when every row is as long), a network fed by inputs in layers above them, anything
    /// else by force.</summary>
    public static NetworkLayout Of(NetworkView net)
    {
        var (chosen, adjacency) = Chosen(net);
        return Cleared(chosen, adjacency);
    }

    /// <summary>This layout with every bond between two tensors kept <see cref="Clearance"/> from the tensors it does
    /// not join, as <see cref="Of"/> leaves it: its rows spread, a force layout's tensors moved, or bonds bowed round
    /// (<see cref="Detours"/>).</summary>
    public NetworkLayout Cleared()
    {
        var adjacency = Positions.Select(_ => new HashSet<int>()).ToArray();
        foreach (var b in Bonds.Where(b => !b.Wide))
            foreach (var a in b.Tensors)
                foreach (var c in b.Tensors)
                    if (a != c)
                        adjacency[a].Add(c);
        return Cleared(this, adjacency);
    }

    /// <summary>How close a bond's line may come to the centre of a tensor it does not join, in units of the layout's
    /// spacing (<see cref="Spacing"/>, drawn about 90 pixels apart): a tensor's marker (a radius of 10 pixels, 0.11;
    /// 5.5 of 40 pixels past 120 tensors, 0.14) and a margin of at least 0.16 (about 14 pixels), so that no bond is
    /// seen to touch or enter a tensor it passes. <see cref="Of"/> keeps every bond between two tensors this clear
    /// (past <see cref="MostCleared"/> tensors, in every layout but a force layout): by its choice of layout, by spreading a tree's levels,
    /// by pushing a force layout's tensors off the lines, and where none of that clears a bond, by bowing it round
    /// (<see cref="Detours"/>).</summary>
    public const double Clearance = 0.3;

    /// <summary>Bonds drawn bowed round a tensor that their straight line would pass too close to, where no layout
    /// kept them clear (see <see cref="Clearance"/>): each bond's index and how far (in units of <see cref="Spacing"/>,
    /// signed as <see cref="NetworkPicture"/> bows parallel bonds) its curve's middle is off the straight line.</summary>
    public IReadOnlyDictionary<int, double> Detours { get; init; } = new Dictionary<int, double>();

    /// <summary>Where the hub of each hyperindex (an index of three or more tensors, not a batch) is drawn (y down),
    /// by the index: placed by <see cref="Of"/> so that the lines from its tensors to the hub keep
    /// <see cref="Clearance"/> from every tensor the index does not join, and the hub itself as far from every
    /// tensor. A hyperindex not listed (a layout built by hand, or past <see cref="MostCleared"/> tensors) has its hub at
    /// <see cref="HubNear"/>.</summary>
    public IReadOnlyDictionary<int, (double X, double Y)> Hubs { get; init; } = new Dictionary<int, (double X, double Y)>();

    /// <summary>The hub of hyperindex <paramref name="bond"/> where nothing is in its way: off the middle of its
    /// tensors by 0.17 units right and 0.23 up (y down), so that it is not hidden behind a tensor at the middle.</summary>
    public static (double X, double Y) HubNear(DrawnBond bond, IReadOnlyList<(double X, double Y)> positions, double unit) =>
        (bond.Tensors.Average(t => positions[t].X) + 0.17 * unit, bond.Tensors.Average(t => positions[t].Y) - 0.23 * unit);

    /// The hubs of the hyperindices (see <see cref="Hubs"/>): where <see cref="HubNear"/> is not clear, the nearest
    /// clear place on rings round the tensors' middle (16 directions, 0.3 to 3 units out); where none is, the clearest.
    static Dictionary<int, (double X, double Y)> HubsFor((double X, double Y)[] pos, DrawnBond[] bonds, bool[] isBar)
    {
        var hubs = new Dictionary<int, (double X, double Y)>();
        var hyper = bonds.Where(b => !b.Wide && b.Tensors.Length > 2).ToList();
        if (hyper.Count == 0)
            return hubs;
        double unit = Spacing(pos), need = Clearance * unit;
        foreach (var b in hyper)
        {
            var carriers = b.Tensors.ToHashSet();
            // How clear (a fraction of the clearance) the hub and its lines are at `hub`.
            double Clear((double X, double Y) hub)
            {
                double worst = double.PositiveInfinity;
                for (int v = 0; v < pos.Length; v++)
                {
                    if (isBar[v])
                        continue;
                    double least = Distance(pos[v], hub, hub);
                    if (!carriers.Contains(v))
                        foreach (var t in b.Tensors)
                            least = Math.Min(least, Distance(pos[v], pos[t], hub));
                    worst = Math.Min(worst, least / need);
                }
                return worst;
            }
            var near = HubNear(b, pos, unit);
            var middle = (X: b.Tensors.Average(t => pos[t].X), Y: b.Tensors.Average(t => pos[t].Y));
            var candidates = new[] { 0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.7, 2.2, 3.0 }
                .SelectMany(r => Enumerable.Range(0, 16).Select(k => (X: middle.X + r * unit * Math.Cos(k * Math.PI / 8), Y: middle.Y - r * unit * Math.Sin(k * Math.PI / 8))));
            (double X, double Y) chosen = near;
            double clearest = Clear(near);
            if (clearest < 1)
                foreach (var c in candidates)
                {
                    double clear = Clear(c);
                    if (clear > clearest)
                        (chosen, clearest) = (c, clear);
                    if (clearest >= 1)
                        break;
                }
            hubs[b.Index] = chosen;
        }
        return hubs;
    }

    /// <summary>The layout's unit: the smallest distance between two of its tensors (tensors at one place left
    /// out), which sets the picture's stub lengths, bends and <see cref="Clearance"/>.</summary>
    public static double Spacing(IReadOnlyList<(double X, double Y)> positions)
    {
        int n = positions.Count;
        double best = double.PositiveInfinity;
        if (n <= 400)
        {
            for (int a = 0; a < n; a++)
                for (int b = a + 1; b < n; b++)
                    if (Apart(positions[a], positions[b]) is var d && d > 1e-9)
                        best = Math.Min(best, d);
            return double.IsFinite(best) ? best : 1;
        }
        // Past 400, in square cells: a pair closer than a cell's side lies in neighbouring cells, so the closest
        // pair found there is the closest of all once it is closer than the side (else the side doubles).
        double w = positions.Max(p => p.X) - positions.Min(p => p.X), h = positions.Max(p => p.Y) - positions.Min(p => p.Y);
        double side = Math.Max(w, h) / Math.Sqrt(n);
        if (side < 1e-9)
            return 1;
        while (true)
        {
            var cells = Cells(positions, side);
            foreach (var ((cx, cy), here) in cells)
                for (long x = cx; x <= cx + 1; x++)
                    for (long y = cy - 1; y <= cy + 1; y++)
                        if ((x > cx || y >= cy) && cells.TryGetValue((x, y), out var there))
                            foreach (int a in here)
                                foreach (int b in there)
                                    if ((x, y) != (cx, cy) || a < b)
                                        if (Apart(positions[a], positions[b]) is var d && d > 1e-9)
                                            best = Math.Min(best, d);
            if (best < side || side > 2 * Math.Max(w, h))
                return double.IsFinite(best) ? best : 1;
            side *= 2;
        }
    }

    /// <summary>A point of a bond bowed by <paramref name="bend"/> units of <paramref name="unit"/>: the quadratic curve
    /// from <paramref name="p"/> to <paramref name="q"/> whose control point is off their middle by twice the bend (to
    /// the left, going from p to q, y up), a fraction <paramref name="f"/> of the way.</summary>
    public static (double X, double Y) Bowed((double X, double Y) p, (double X, double Y) q, double bend, double unit, double f)
    {
        double dx = q.X - p.X, dy = q.Y - p.Y, length = Math.Max(1e-12, Math.Sqrt(dx * dx + dy * dy));
        var c = ((p.X + q.X) / 2 - dy / length * 2 * bend * unit, (p.Y + q.Y) / 2 + dx / length * 2 * bend * unit);
        double u = 1 - f;
        return (u * u * p.X + 2 * f * u * c.Item1 + f * f * q.X, u * u * p.Y + 2 * f * u * c.Item2 + f * f * q.Y);
    }

    /// The layout chosen by structure (see <see cref="Of"/>), and the tensors' neighbours.
    static (NetworkLayout, HashSet<int>[]) Chosen(NetworkView net)
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
            return (new(LayoutKind.Chain, [(0, 0)], bonds), adjacency);
        bool tree = connected && edges == n - 1;
        var ends = Enumerable.Range(0, n).Where(v => adjacency[v].Count == 1).ToList();
        if (tree && ends.Count == 2)
            return (new NetworkLayout(LayoutKind.Chain, Chain(adjacency, ends[0]), bonds), adjacency);
        // Families with subscripts say where their members sit (rows of a grid, levels of a tree or a MERA), unless a
        // bond would run through a tensor it does not join (a ring's closing bond along its row, or an MPO's bond to
        // its first input's row through the second's); then a network fed by inputs is tried in layers above them
        // first, where a tree's layout would bend the MPO's chain in two.
        bool throughRows = false;
        if (net.Tensors.All(t => t.Subscripts.Length > 0) && Rows(net) is { } rows)
        {
            if (!ThroughTensor(rows.Positions, bonds, new bool[n]))
                return (new NetworkLayout(rows.Grid ? LayoutKind.Grid : LayoutKind.Layers, rows.Positions, bonds), adjacency);
            throughRows = true;
        }
        if (throughRows && connected && n <= 400 && Layered(net, adjacency, bonds) is { } above)
            return (new NetworkLayout(LayoutKind.Layered, above.Positions, bonds) { Bars = above.Bars }, adjacency);
        if (tree)
            return (new NetworkLayout(LayoutKind.Tree, TreeLayout(adjacency), bonds), adjacency);
        if (TreeAboveInputs(net, adjacency) is { } fed)
            return (new NetworkLayout(LayoutKind.Tree, fed, bonds), adjacency);
        if (connected && n <= 400 && Layered(net, adjacency, bonds) is { } layered)
            return (new NetworkLayout(LayoutKind.Layered, layered.Positions, bonds) { Bars = layered.Bars }, adjacency);
        return (new NetworkLayout(LayoutKind.Force, Force(adjacency, seed: 1), bonds), adjacency);
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

    /// A network fed by inputs, in rows by how far each tensor is from them (y down: the inputs' row at the bottom).
    /// Where every set of tensors at one distance from the inputs is a path or joins no other (a tensor train above its
    /// input, an MPO on it), those sets are the rows. Otherwise the rows are peeled from the inputs: a tensor joins the
    /// next row once at least as many of its bonds lead to rows already placed as lead elsewhere (a MERA's
    /// disentanglers before the isometries they feed; when none qualifies, every tensor joined to a placed one goes
    /// next). A row that is a path keeps the path's order; the others are ordered by the mean place of their
    /// neighbours below and above in turn (barycentre sweeps), keeping the order with the fewest crossing bonds. Each
    /// row is then spread to sit over its neighbours, one unit apart at least. The one input that joins several
    /// tensors is a bar under them. Null without inputs, where an input joins nothing but inputs, or where a bond
    /// would be drawn through a tensor it does not join.
    static ((double, double)[] Positions, int[] Bars)? Layered(NetworkView net, HashSet<int>[] adjacency, DrawnBond[] bonds)
    {
        int n = adjacency.Length;
        var inputs = net.Tensors.Where(t => t.IsInput).Select(t => t.Id).ToList();
        if (inputs.Count == 0 || inputs.Count == n || inputs.Any(v => !adjacency[v].Any(w => !net.Tensors[w].IsInput)))
            return null;
        var distance = Enumerable.Repeat(-1, n).ToArray();
        var queue = new Queue<int>(inputs);
        foreach (var v in inputs)
            distance[v] = 0;
        while (queue.Count > 0)
        {
            int u = queue.Dequeue();
            foreach (var w in adjacency[u].Where(w => distance[w] < 0))
            {
                distance[w] = distance[u] + 1;
                queue.Enqueue(w);
            }
        }
        var rows = Enumerable.Range(0, distance.Max() + 1).Select(d => Enumerable.Range(0, n).Where(v => distance[v] == d).ToList()).ToList();
        if (!rows.Skip(1).All(row => PathThrough(row, adjacency) is not null || row.All(v => !adjacency[v].Any(row.Contains))))
            rows = Peeled(inputs, adjacency, bonds);
        if (rows is null || rows.Any(row => row.Count == 0))
            return null;
        var layer = new int[n];
        for (int l = 0; l < rows.Count; l++)
            foreach (var v in rows[l])
                layer[v] = l;
        // A row that is a path is drawn in the path's order (either way round), so that its bonds join neighbours.
        var paths = rows.Select((row, l) => l > 0 ? PathThrough(row, adjacency) : null).ToArray();
        for (int l = 0; l < rows.Count; l++)
            if (paths[l] is { } walk)
                rows[l] = walk;
        int top = rows.Count - 1;
        int[] bars = inputs.Count == 1 && adjacency[inputs[0]].Count >= 2 ? [inputs[0]] : [];
        var isBar = new bool[n];
        foreach (var v in bars)
            isBar[v] = true;
        // Neighbours that place a tensor: a bar's bonds drop straight down, so it pulls nothing sideways.
        var pulls = Enumerable.Range(0, n).Select(v => adjacency[v].Where(w => !isBar[w] && layer[w] != layer[v]).ToArray()).ToArray();
        var x = new double[n];
        void Spread(List<int> row)
        {
            for (int k = 0; k < row.Count; k++)
                x[row[k]] = k - (row.Count - 1) / 2.0;
        }
        foreach (var row in rows)
            Spread(row);
        var pos = new (double X, double Y)[n];
        (double X, double Y)[] Place()
        {
            for (int v = 0; v < n; v++)
                pos[v] = (isBar[v] ? adjacency[v].Average(w => x[w]) : x[v], top - layer[v]);
            return pos;
        }
        var best = rows.Select(r => r.ToList()).ToList();
        int fewest = Crossings(Place(), bonds, isBar);
        for (int sweep = 0; sweep < 8 && fewest > 0; sweep++)
        {
            bool up = sweep % 2 == 0;
            var order = up ? Enumerable.Range(1, top) : Enumerable.Range(0, top).Reverse();
            foreach (int l in order)
            {
                var row = rows[l];
                double Key(int v)
                {
                    var from = pulls[v].Where(w => up ? layer[w] < l : layer[w] > l).ToList();
                    return from.Count == 0 ? x[v] : from.Average(w => x[w]);
                }
                var keys = row.ToDictionary(v => v, Key);
                if (paths[l] is not null)
                {
                    // The path's way round that follows its neighbours' places.
                    double along = row.Select((v, k) => keys[v] * k).Sum(), back = row.Select((v, k) => keys[v] * (row.Count - 1 - k)).Sum();
                    if (back > along + 1e-9)
                        rows[l] = Enumerable.Reverse(row).ToList();
                }
                else
                    rows[l] = row.Select((v, k) => (v, k)).OrderBy(p => keys[p.v]).ThenBy(p => p.k).Select(p => p.v).ToList();
                Spread(rows[l]);
            }
            int crossings = Crossings(Place(), bonds, isBar);
            if (crossings < fewest)
                (fewest, best) = (crossings, rows.Select(r => r.ToList()).ToList());
        }
        rows = best;
        foreach (var row in rows)
            Spread(row);
        // Each tensor over the mean of its neighbours in other rows, its row kept in order and one unit apart:
        // a least-squares fit under those bounds, row by row, down and up a few times.
        for (int pass = 0; pass < 12; pass++)
        {
            var order = pass % 2 == 0 ? Enumerable.Range(0, top + 1) : Enumerable.Range(0, top + 1).Reverse();
            foreach (int l in order)
            {
                var row = rows[l];
                var wanted = row.Select(v => pulls[v].Length == 0 ? x[v] : pulls[v].Average(w => x[w])).ToArray();
                var fitted = Isotonic(wanted.Select((d, k) => d - k).ToArray());
                for (int k = 0; k < row.Count; k++)
                    x[row[k]] = fitted[k] + k;
            }
        }
        double left = Enumerable.Range(0, n).Where(v => !isBar[v]).Min(v => x[v]);
        for (int v = 0; v < n; v++)
            x[v] -= left;
        Place();
        if (pos.Distinct().Count() != n || ThroughTensor(pos, bonds, isBar))
            return null;
        return (pos.Select(p => (p.X, p.Y)).ToArray(), bars);
    }

    /// The tensors of <paramref name="row"/> in order along the path they form among themselves, from its lower-numbered
    /// end; null when they do not form one path of two or more.
    static List<int>? PathThrough(List<int> row, HashSet<int>[] adjacency)
    {
        var set = row.ToHashSet();
        var degree = row.ToDictionary(v => v, v => adjacency[v].Count(set.Contains));
        if (row.Count < 2 || degree.Values.Any(d => d > 2) || degree.Values.Sum() != 2 * (row.Count - 1))
            return null;
        var walk = new List<int>();
        for (int prev = -1, at = row.Where(v => degree[v] == 1).DefaultIfEmpty(-1).Min(); at >= 0;)
        {
            walk.Add(at);
            int next = adjacency[at].Where(w => set.Contains(w) && w != prev).DefaultIfEmpty(-1).First();
            (prev, at) = (at, next);
        }
        return walk.Count == row.Count ? walk : null;
    }

    /// Rows peeled from the inputs (see <see cref="Layered"/>); null where some tensor is never reached.
    static List<List<int>>? Peeled(List<int> inputs, HashSet<int>[] adjacency, DrawnBond[] bonds)
    {
        int n = adjacency.Length;
        var layer = Enumerable.Repeat(-1, n).ToArray();
        foreach (var v in inputs)
            layer[v] = 0;
        var rows = new List<List<int>> { inputs };
        // Each tensor's bonds (not open legs, not a batch), each as the other tensors it joins.
        var legs = Enumerable.Range(0, n).Select(_ => new List<int[]>()).ToArray();
        foreach (var b in bonds.Where(b => !b.Wide && b.Tensors.Length > 1))
            foreach (var t in b.Tensors)
                legs[t].Add(b.Tensors.Where(u => u != t).ToArray());
        int Placed(int v) => legs[v].Count(l => l.Any(u => layer[u] >= 0));
        while (layer.Any(l => l < 0))
        {
            var waiting = Enumerable.Range(0, n).Where(v => layer[v] < 0).ToList();
            var ready = waiting.Where(v => Placed(v) > 0 && Placed(v) >= legs[v].Count - Placed(v)).ToList();
            if (ready.Count == 0)
                ready = waiting.Where(v => Placed(v) > 0).ToList();
            if (ready.Count == 0)
                return null;
            foreach (var v in ready)
                layer[v] = rows.Count;
            rows.Add(ready);
        }
        return rows;
    }

    /// The nondecreasing sequence nearest (least squares) <paramref name="values"/>: pool adjacent violators.
    static double[] Isotonic(double[] values)
    {
        var blocks = new List<(double Sum, int Count)>();
        foreach (var v in values)
        {
            blocks.Add((v, 1));
            while (blocks.Count > 1 && blocks[^2].Sum / blocks[^2].Count > blocks[^1].Sum / blocks[^1].Count)
            {
                var (a, b) = (blocks[^2], blocks[^1]);
                blocks.RemoveRange(blocks.Count - 2, 2);
                blocks.Add((a.Sum + b.Sum, a.Count + b.Count));
            }
        }
        return blocks.SelectMany(b => Enumerable.Repeat(b.Sum / b.Count, b.Count)).ToArray();
    }

    /// The straight lines drawn for the bonds between two tensors (one per pair of tensors, however many bonds join
    /// them; a bond to a bar drops straight down onto it), with the pair.
    static List<(int A, int C, (double X, double Y) P, (double X, double Y) Q)> Segments((double X, double Y)[] pos, DrawnBond[] bonds, bool[] isBar)
    {
        var segments = new List<(int, int, (double X, double Y), (double X, double Y))>();
        var seen = new HashSet<(int, int)>();
        foreach (var b in bonds.Where(b => !b.Wide && b.Tensors.Length == 2))
        {
            int a = Math.Min(b.Tensors[0], b.Tensors[1]), c = Math.Max(b.Tensors[0], b.Tensors[1]);
            if (!seen.Add((a, c)))
                continue;
            var (p, q) = (pos[a], pos[c]);
            if (isBar[a])
                p = (q.X, p.Y);
            else if (isBar[c])
                q = (p.X, q.Y);
            segments.Add((a, c, p, q));
        }
        return segments;
    }

    /// How many pairs of the bonds' lines cross (meet at a point inside both, not at a shared end).
    static int Crossings((double X, double Y)[] pos, DrawnBond[] bonds, bool[] isBar)
    {
        static double Side((double X, double Y) a, (double X, double Y) b, (double X, double Y) c) =>
            (b.X - a.X) * (c.Y - a.Y) - (b.Y - a.Y) * (c.X - a.X);
        static bool Apart(double u, double v) => (u > 1e-9 && v < -1e-9) || (u < -1e-9 && v > 1e-9);
        var segments = Segments(pos, bonds, isBar);
        int count = 0;
        for (int i = 0; i < segments.Count; i++)
            for (int j = i + 1; j < segments.Count; j++)
            {
                var (_, _, p, q) = segments[i];
                var (_, _, r, s) = segments[j];
                if (Apart(Side(p, q, r), Side(p, q, s)) && Apart(Side(r, s, p), Side(r, s, q)))
                    count++;
            }
        return count;
    }

    /// Whether some bond's line passes closer than <see cref="Clearance"/> to a tensor it does not join (a ring's
    /// closing bond along its row would).
    static bool ThroughTensor((double X, double Y)[] pos, DrawnBond[] bonds, bool[] isBar) =>
        TooClose(pos, bonds, isBar, Spacing(pos), 1).Count > 0;

    /// The bonds' lines (as <see cref="Segments"/>) that pass too close to a tensor they do not join (bars left out):
    /// each with the tensor, its distance from the line, the line's nearest point and the distance needed, which is
    /// <see cref="Clearance"/> × <paramref name="unit"/> × <paramref name="slack"/>, more for a pair of tensors that
    /// several bonds join (the picture bows them apart, 0.13 units to each side per bond past the first).
    static List<(int A, int C, int T, double D, (double X, double Y) Near, double Need)> TooClose((double X, double Y)[] pos,
        DrawnBond[] bonds, bool[] isBar, double unit, double slack)
    {
        var pairs = bonds.Where(b => !b.Wide && b.Tensors.Length == 2)
            .GroupBy(b => (Math.Min(b.Tensors[0], b.Tensors[1]), Math.Max(b.Tensors[0], b.Tensors[1])))
            .ToDictionary(g => g.Key, g => g.Count());
        var segments = Segments(pos, bonds, isBar);
        double Need(int a, int c) => (Clearance + 0.13 * (pairs[(a, c)] - 1)) * unit * slack;
        // The tensors in square cells as wide as the mean line (at least the farthest reach): a line looks only at the
        // few cells round it.
        double side = Math.Max(segments.Count == 0 ? unit : segments.Max(s => Need(s.A, s.C)),
            segments.Select(s => Math.Sqrt((s.Q.X - s.P.X) * (s.Q.X - s.P.X) + (s.Q.Y - s.P.Y) * (s.Q.Y - s.P.Y))).DefaultIfEmpty(0).Average());
        var cells = Cells(pos, side, isBar);
        (long, long) Cell(double x, double y) => CellOf((x, y), side);
        var close = new List<(int, int, int, double, (double, double), double)>();
        foreach (var (a, c, p, q) in segments)
        {
            double need = Need(a, c), dx = q.X - p.X, dy = q.Y - p.Y, length2 = dx * dx + dy * dy;
            var (lo, hi) = (Cell(Math.Min(p.X, q.X) - need, Math.Min(p.Y, q.Y) - need), Cell(Math.Max(p.X, q.X) + need, Math.Max(p.Y, q.Y) + need));
            for (long cx = lo.Item1; cx <= hi.Item1; cx++)
                for (long cy = lo.Item2; cy <= hi.Item2; cy++)
                    if (cells.TryGetValue((cx, cy), out var inCell))
                        foreach (int v in inCell)
                        {
                            if (v == a || v == c)
                                continue;
                            double f = length2 < 1e-12 ? 0 : Math.Clamp(((pos[v].X - p.X) * dx + (pos[v].Y - p.Y) * dy) / length2, 0, 1);
                            var near = (X: p.X + f * dx, Y: p.Y + f * dy);
                            double d = Math.Sqrt((near.X - pos[v].X) * (near.X - pos[v].X) + (near.Y - pos[v].Y) * (near.Y - pos[v].Y));
                            if (d < need)
                                close.Add((a, c, v, d, near, need));
                        }
        }
        return close;
    }

    /// The chosen layout with every bond between two tensors at least <see cref="Clearance"/> from the tensors it
    /// does not join. A tree, chain, grid or layers whose line passes too close (a tensor with many children, its
    /// outer bonds nearly level with their neighbours) has its rows spread further apart, up to 12 times; a force
    /// layout has its tensors pushed off the lines (<see cref="Nudge"/>), from up to four seeds (one past 400 tensors); what is still too
    /// close is bowed round (<see cref="Detours"/>), on the layout that came closest. Past <see cref="MostCleared"/>
    /// tensors only the rows are spread. Then each hyperindex's hub is placed clear (<see cref="Hubs"/>).
    static NetworkLayout Cleared(NetworkLayout layout, HashSet<int>[] adjacency)
    {
        var cleared = ClearedBonds(layout, adjacency);
        if (cleared.Positions.Length > MostCleared)
            return cleared;
        var isBar = new bool[cleared.Positions.Length];
        foreach (var v in cleared.Bars)
            isBar[v] = true;
        return cleared with { Hubs = HubsFor(cleared.Positions, cleared.Bonds, isBar) };
    }

    /// <summary>The most tensors whose force layout <see cref="Of"/> clears (pushing tensors off the lines, bowing
    /// bonds, placing hubs); past it a force layout is an overview, drawn as it falls.</summary>
    public const int MostCleared = 1000;

    /// <see cref="Cleared(NetworkLayout, HashSet{int}[])"/>'s bonds between two tensors.
    static NetworkLayout ClearedBonds(NetworkLayout layout, HashSet<int>[] adjacency)
    {
        int n = layout.Positions.Length;
        var isBar = new bool[n];
        foreach (var v in layout.Bars)
            isBar[v] = true;
        var bonds = layout.Bonds;
        // How close the closest line comes, as a fraction of what it needs (1 or more: clear).
        double Worst((double X, double Y)[] pos) =>
            TooClose(pos, bonds, isBar, Spacing(pos), 1).Select(c => c.D / c.Need).DefaultIfEmpty(1).Min();
        double closest = Worst(layout.Positions);
        if (closest >= 1)
            return layout;
        if (layout.Kind is LayoutKind.Tree or LayoutKind.Chain or LayoutKind.Grid or LayoutKind.Layers)
            foreach (var stretch in new[] { 1.5, 2, 3, 4, 6, 8, 12 })
            {
                var taller = layout.Positions.Select(p => (p.X, p.Y * stretch)).ToArray();
                if (Worst(taller) >= 1)
                    return layout with { Positions = taller };
            }
        // Past 1000 tensors a force layout is an overview (markers of a few pixels, and a few iterations past 2,000):
        // pushing its tensors about or bowing its lines would take long and show little.
        if (n > MostCleared)
            return layout;
        var best = layout.Positions;
        // Other seeds where a layout is quick (past 400 tensors each took 1.6 s; a random graph of 800 rarely clears).
        if (layout.Kind is LayoutKind.Force)
            for (int seed = 1; seed <= (n <= 400 ? 4 : 1); seed++)
            {
                var pos = seed == 1 ? layout.Positions.ToArray() : Force(adjacency, seed);
                Nudge(pos, bonds, isBar);
                double worst = Worst(pos);
                if (worst >= 1)
                    return layout with { Positions = pos };
                if (worst > closest)
                    (best, closest) = (pos, worst);
            }
        return layout with { Positions = best, Detours = DetoursFor(best, bonds, isBar) };
    }

    /// Pushes a layout's tensors off the bonds' lines that pass too close to them: each round, a tensor too close to a
    /// line moves away from the line's nearest point by 0.6 of what it lacks (aiming at 1.15 × the clearance), the
    /// line's two tensors the other way by 0.2 each, and then tensors closer than the layout's spacing was are pushed
    /// apart to it; until every line is clear, or after 300 rounds (50 without fewer close lines).
    static void Nudge((double X, double Y)[] pos, DrawnBond[] bonds, bool[] isBar)
    {
        int n = pos.Length;
        double unit = Spacing(pos);
        var move = new (double X, double Y)[n];
        int fewest = int.MaxValue, since = 0;
        for (int round = 0; round < 300; round++)
        {
            var close = TooClose(pos, bonds, isBar, unit, 1.15);
            if (close.Count == 0)
                break;
            // A layout whose count of close lines has not fallen for 50 rounds is not going to clear (a random graph
            // of 800 took 300 rounds a seed for nothing): what is left is bowed round.
            if (close.Count < fewest)
                (fewest, since) = (close.Count, 0);
            else if (++since == 50)
                break;
            Array.Clear(move);
            foreach (var (a, c, t, d, near, need) in close)
            {
                var dir = (X: pos[t].X - near.X, Y: pos[t].Y - near.Y);
                if (d < 1e-9 * unit)
                {
                    // On the line: off it to one side (its left).
                    double lx = pos[c].X - pos[a].X, ly = pos[c].Y - pos[a].Y, l = Math.Max(1e-12, Math.Sqrt(lx * lx + ly * ly));
                    dir = (-ly / l, lx / l);
                }
                else
                    dir = (dir.X / d, dir.Y / d);
                double lack = need - d;
                move[t] = (move[t].X + dir.X * lack * 0.6, move[t].Y + dir.Y * lack * 0.6);
                move[a] = (move[a].X - dir.X * lack * 0.2, move[a].Y - dir.Y * lack * 0.2);
                move[c] = (move[c].X - dir.X * lack * 0.2, move[c].Y - dir.Y * lack * 0.2);
            }
            for (int v = 0; v < n; v++)
                pos[v] = (pos[v].X + move[v].X, pos[v].Y + move[v].Y);
            // Apart again to the spacing the layout had, which sets the picture's scale.
            Separate(pos, unit, 12);
        }
    }

    /// Pushes apart, half each, any two tensors closer than <paramref name="unit"/> (up to <paramref name="passes"/> passes).
    static void Separate((double X, double Y)[] pos, double unit, int passes = 4)
    {
        for (int pass = 0; pass < passes; pass++)
        {
            var cells = Cells(pos, unit);
            bool moved = false;
            for (int v = 0; v < pos.Length; v++)
            {
                var (cx, cy) = CellOf(pos[v], unit);
                for (long x = cx - 1; x <= cx + 1; x++)
                    for (long y = cy - 1; y <= cy + 1; y++)
                        if (cells.TryGetValue((x, y), out var near))
                            foreach (int w in near)
                            {
                                if (w <= v)
                                    continue;
                                double dx = pos[w].X - pos[v].X, dy = pos[w].Y - pos[v].Y, d = Math.Sqrt(dx * dx + dy * dy);
                                if (d >= unit * 0.999)
                                    continue;
                                if (d < 1e-9)
                                    (dx, dy, d) = (1, 0, 1);
                                double push = (unit - d) / 2 * 1.001;
                                pos[v] = (pos[v].X - dx / d * push, pos[v].Y - dy / d * push);
                                pos[w] = (pos[w].X + dx / d * push, pos[w].Y + dy / d * push);
                                moved = true;
                            }
            }
            if (!moved)
                break;
        }
    }

    /// For each pair of tensors whose bonds still pass too close to another tensor: the least bow (in units, either
    /// way) that takes every bond of the pair clear of every other tensor, as the picture draws it (y up, bonds of
    /// one pair already bowed apart); where none does, the bow that comes closest. Keyed by each of the pair's bonds.
    static Dictionary<int, double> DetoursFor((double X, double Y)[] pos, DrawnBond[] bonds, bool[] isBar)
    {
        double unit = Spacing(pos);
        var up = pos.Select(p => (p.X, -p.Y)).ToArray();
        var detours = new Dictionary<int, double>();
        var pairs = TooClose(pos, bonds, isBar, unit, 1).Select(c => (c.A, c.C)).Distinct().ToList();
        var segments = Segments(up, bonds, isBar).ToDictionary(s => (s.A, s.C), s => (s.P, s.Q));
        foreach (var (a, c) in pairs)
        {
            var shared = bonds.Where(b => !b.Wide && b.Tensors.Length == 2 && Math.Min(b.Tensors[0], b.Tensors[1]) == a && Math.Max(b.Tensors[0], b.Tensors[1]) == c).ToList();
            var (p, q) = segments[(a, c)];
            // How clear (a fraction of the clearance) the pair's curves are when bowed by `bend` more.
            double Clear(double bend)
            {
                double worst = double.PositiveInfinity;
                for (int i = 0; i < shared.Count; i++)
                {
                    double bow = (i - (shared.Count - 1) / 2.0) * 0.26 + bend;
                    var curve = Enumerable.Range(0, 33).Select(k => Bowed(p, q, bow, unit, k / 32.0)).ToArray();
                    for (int v = 0; v < up.Length; v++)
                        if (v != a && v != c && !isBar[v])
                            for (int k = 0; k + 1 < curve.Length; k++)
                                worst = Math.Min(worst, Distance(up[v], curve[k], curve[k + 1]) / (Clearance * unit));
                }
                return worst;
            }
            double chosen = 0, clearest = double.NegativeInfinity;
            foreach (var size in new[] { 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.7 })
            {
                foreach (var bend in new[] { size, -size })
                {
                    double clear = Clear(bend);
                    if (clear > clearest)
                        (chosen, clearest) = (bend, clear);
                }
                if (clearest >= 1)
                    break;
            }
            foreach (var b in shared)
                detours[b.Index] = chosen;
        }
        return detours;
    }

    /// The distance from <paramref name="v"/> to the segment from <paramref name="p"/> to <paramref name="q"/>.
    static double Distance((double X, double Y) v, (double X, double Y) p, (double X, double Y) q)
    {
        double dx = q.X - p.X, dy = q.Y - p.Y, length2 = dx * dx + dy * dy;
        double f = length2 < 1e-12 ? 0 : Math.Clamp(((v.X - p.X) * dx + (v.Y - p.Y) * dy) / length2, 0, 1);
        double ex = p.X + f * dx - v.X, ey = p.Y + f * dy - v.Y;
        return Math.Sqrt(ex * ex + ey * ey);
    }

    /// Rows keyed by (first subscript when there are two or more, family in order of appearance), columns by the
    /// last subscript; shorter rows are spread over the longest one's width. Null when two tensors would coincide.
    /// A lattice (every tensor with two or more subscripts, every row as long: a PEPS's T[x, y]) is drawn the other
    /// way round, as its coordinates read: the first subscript across, the last down; levels of different lengths
    /// (a MERA's or a tree's [level, position]) keep the first as the row.
    /// In a grid of several rows of one family (a PEPS) the other families sit diagonally off their partner, not in
    /// rows between, where the bonds between the main family's rows would pass through them.
    static ((double, double)[] Positions, bool Grid)? Rows(NetworkView net)
    {
        var rows = Rows(net, across: false);
        return rows is { Grid: true } && net.Tensors.All(t => t.Subscripts.Length >= 2) ? Rows(net, across: true) ?? rows : rows;
    }

    /// <see cref="Rows(NetworkView)"/> with the rows keyed by the first subscript, or with <paramref name="across"/>
    /// by the last (the first then the column).
    static ((double, double)[] Positions, bool Grid)? Rows(NetworkView net, bool across)
    {
        var families = net.Tensors.Select(t => t.Family).Distinct().ToList();
        int Lead(TensorView t) => t.Subscripts.Length < 2 ? 0 : across ? t.Subscripts[^1] : t.Subscripts[0];
        int Column(TensorView t) => across && t.Subscripts.Length >= 2 ? t.Subscripts[0] : t.Subscripts[^1];
        var keys = net.Tensors
            .Select(t => (Lead: Lead(t), Family: families.IndexOf(t.Family)))
            .ToArray();
        var rowOrder = keys.Distinct().OrderBy(k => k.Lead).ThenBy(k => k.Family).ToList();
        var members = rowOrder.ToDictionary(k => k, k => Enumerable.Range(0, keys.Length).Where(t => keys[t] == k)
            .OrderBy(t => Column(net.Tensors[t])).ToList());
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
            if (row.Select(t => Column(net.Tensors[t])).Distinct().Count() != row.Count)
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
        // Each iteration weighs every pair: past 1000 tensors the iterations shrink so that the whole layout weighs at
        // most 4e8 pairs (a ring of 30,000 took 15 minutes at 100 iterations; past 20,000 it stays a circle). At 100
        // iterations 800 tensors were left hot, their bonds across the whole picture.
        int iterations = (int)Math.Min(400, 4e8 / ((double)n * n));
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
        var pos = Enumerable.Range(0, n).Select(v => (X: x[v] * scale, Y: y[v] * scale)).ToArray();
        // Tensors the forces left close together (two leaves of one tensor folded onto each other) would set the
        // picture's unit, its smallest distance, and shrink everything else: none is left closer than 0.8 of the
        // typical distance to a nearest neighbour, or half the mean bond (a random graph of 800 had a pair 0.03 of
        // it apart).
        Separate(pos, Math.Min(0.5, 0.8 * MedianNearest(pos)), 40);
        return pos.Select(p => (p.X, p.Y)).ToArray();
    }

    /// The median distance from a tensor to its nearest neighbour, over the tensors with a neighbour within a cell
    /// (square cells of the layout's extent over √n; one tensor in a cell alone with its neighbours is left out).
    static double MedianNearest((double X, double Y)[] pos)
    {
        int n = pos.Length;
        double side = Math.Max(pos.Max(p => p.X) - pos.Min(p => p.X), pos.Max(p => p.Y) - pos.Min(p => p.Y)) / Math.Sqrt(n);
        if (n < 2 || side < 1e-9)
            return 1;
        var cells = Cells(pos, side);
        var nearest = new List<double>();
        for (int v = 0; v < n; v++)
        {
            var (cx, cy) = CellOf(pos[v], side);
            double best = double.PositiveInfinity;
            for (long x = cx - 1; x <= cx + 1; x++)
                for (long y = cy - 1; y <= cy + 1; y++)
                    if (cells.TryGetValue((x, y), out var near))
                        foreach (int w in near)
                            if (w != v)
                                best = Math.Min(best, Apart(pos[v], pos[w]));
            if (best > 1e-9 && best <= side)
                nearest.Add(best);
        }
        if (nearest.Count == 0)
            return 1;
        nearest.Sort();
        return nearest[nearest.Count / 2];
    }

    /// The distance between two points.
    static double Apart((double X, double Y) p, (double X, double Y) q) => Math.Sqrt((p.X - q.X) * (p.X - q.X) + (p.Y - q.Y) * (p.Y - q.Y));

    /// The square cell of side <paramref name="side"/> that holds point <paramref name="p"/>.
    static (long, long) CellOf((double X, double Y) p, double side) => ((long)Math.Floor(p.X / side), (long)Math.Floor(p.Y / side));

    /// The tensors by the cell that holds them (<see cref="CellOf"/>), but those <paramref name="skip"/> marks: two
    /// tensors closer than the side lie in the same or neighbouring cells.
    static Dictionary<(long, long), List<int>> Cells(IReadOnlyList<(double X, double Y)> pos, double side, bool[]? skip = null)
    {
        var cells = new Dictionary<(long, long), List<int>>();
        for (int v = 0; v < pos.Count; v++)
            if (skip is null || !skip[v])
                (cells.TryGetValue(CellOf(pos[v], side), out var list) ? list : cells[CellOf(pos[v], side)] = []).Add(v);
        return cells;
    }
}
