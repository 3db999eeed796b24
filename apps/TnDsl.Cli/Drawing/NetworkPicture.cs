using TnDsl.Api;
using System.Numerics;
using ScottPlot;
using TnDsl.Native;

namespace TnDsl.Cli.Drawing;

/// <summary>
/// Pictures of a network and of its contraction tree, drawn with ScottPlot (already the project's plotting library,
/// which writes both PNG and SVG) on positions from <see cref="NetworkLayout"/>: the layout is ours, because the
/// structure (chains, grids, trees, families) is known from the network and a general graph-layout library would
/// only rediscover it.
/// </summary>
public static class NetworkPicture
{
    /// <summary>A cut to show: the severed bonds' names and the tensors on its A side.</summary>
    public sealed record CutShown(string Name, IReadOnlySet<string> Severed, IReadOnlySet<string> LeftTensors, double Bits);

    static readonly ScottPlot.Palettes.Category10 Palette = new();

    /// A cut's two sides, as rings round the tensors: pale, so that a family's colour (the palette's own blue and
    /// orange among them) stays distinct from the ring round it.
    static readonly Color SideA = Color.FromHex("#A6CEE3"), SideB = Color.FromHex("#FDBF6F");

    /// The ticks of wide hyperindices (a batch), one shape each in order of the indices.
    static readonly MarkerShape[] TickShapes = [MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.FilledTriangleDown];

    /// <summary>The network laid out by its structure: tensors coloured and labelled by family, bonds as lines as
    /// thick as log2 of their size and labelled with it, open legs as stubs, hyperindices as small black hubs, a
    /// layout's bars (<see cref="NetworkLayout.Bars"/>) as bars, and a cut's severed bonds in red with its two sides
    /// ringed.</summary>
    public static Plot Network(NetworkView net, NetworkLayout layout, CutShown? cut) => Drawn(net, layout, cut).Plot;

    /// <summary>Where <see cref="Network"/>'s title and bond labels landed, in pixels of the picture at
    /// <see cref="SizeFor"/>: the title's widest line and the room it had (the picture's width, less the legend's
    /// pull to the left), each bond size label's box (left, top, right, bottom), and the line drawn for each bond
    /// between two tensors (its name and the points of its polyline: two for a straight line, more for a curve), each
    /// tensor's centre (a bar's middle), the radius of a tensor's marker, the line from each tensor of a hyperindex
    /// to its hub (the index's name, the tensor, the two ends) and the title as drawn.</summary>
    public sealed record Geometry(double TitleWidth, double TitleRoom, IReadOnlyList<(double Left, double Top, double Right, double Bottom)> LabelBoxes,
        IReadOnlyList<(string Bond, IReadOnlyList<(double X, double Y)> Points)> BondLines, IReadOnlyList<(double X, double Y)> Tensors,
        double TensorRadius, IReadOnlyList<(string Bond, int Tensor, (double X, double Y) From, (double X, double Y) Hub)> HubLines, string Title);

    /// <summary>How a family's tensors are drawn: the fill and, for all but the first ten families, an outline
    /// (see <see cref="LookOf"/>).</summary>
    public sealed record Look(Color Fill, Color? Outline, double OutlineShare);

    /// <summary>The look of the family that appears <paramref name="k"/>th (from 0): the palette's ten colours in
    /// turn, and each round of ten its own style: filled; filled with a black ring; white with a ring of the colour;
    /// black with a ring of the colour. Forty families look apart in each shape (a tensor's shape is its role);
    /// past forty the looks repeat and <see cref="Network"/> names those families on their tensors.</summary>
    public static Look LookOf(int k)
    {
        var colour = Palette.GetColor(k % 10);
        return ((k / 10) % Styles) switch
        {
            0 => new(colour, null, 0),
            1 => new(colour, Colors.Black, 0.16),
            2 => new(Colors.White, colour, 0.26),
            _ => new(Colors.Black, colour, 0.26),
        };
    }

    /// <summary>The styles of <see cref="LookOf"/>: with the palette's ten colours, the families that look apart.</summary>
    public const int Styles = 4;

    /// <summary>The picture of <see cref="Network"/> with its <see cref="Geometry"/>.</summary>
    public static (Plot Plot, Geometry Geometry) Drawn(NetworkView net, NetworkLayout layout, CutShown? cut)
    {
        var plot = new Plot();
        var pos = Flipped(layout);
        int n = pos.Length;
        bool small = n <= 120;
        var families = net.Tensors.Select(t => t.Family).Distinct().ToList();
        var looks = families.Select((f, k) => (f, k)).ToDictionary(p => p.f, p => LookOf(p.k));
        // Past the looks that stay apart, a family is named on its tensors (in a small picture every tensor is).
        var named = families.Skip(10 * Styles).ToHashSet();
        double unit = Unit(pos);
        // The pixels between neighbouring tensors: where the picture is capped (SizeFor), fewer than it asks for,
        // and the markers, lines and ticks shrink with them so that every bond keeps its clearance.
        var (pixelsWide, pixelsHigh, pixels) = Frame(layout);
        double thin = Math.Min(1, pixels / 40);
        var red = Colors.Red;
        var labels = new List<BondLabel>();
        var lines = new List<(string Bond, (double X, double Y)[] Points)>();
        var spokes = new List<(string Bond, int Tensor, (double X, double Y) From, (double X, double Y) Hub)>();
        var hubs = new List<(double X, double Y)>();
        var bends = Bends(layout);
        var wide = layout.Bonds.Where(b => b.Wide).ToList();

        foreach (var b in layout.Bonds)
        {
            float width = (float)Math.Max(0.5, (1 + Math.Log2(Math.Max(1, b.Size)) * 0.75) * thin);
            bool severed = cut is not null && cut.Severed.Contains(b.Name);
            var color = severed ? red : Colors.Gray;
            (double X, double Y) labelAt;
            if (b.Tensors.Length == 2)
            {
                var (p, q) = Ends(b, pos, layout);
                if (bends.TryGetValue(b.Index, out double bend))
                {
                    // One of several bonds between the same two tensors: each its own curve, bowed to its side.
                    var curve = Curve(b, pos, layout, bend, unit);
                    Polyline(plot, curve, color, width, severed);
                    lines.Add((b.Name, curve));
                    labelAt = curve[curve.Length / 2];
                }
                else
                {
                    Segment(plot, p, q, color, width, severed);
                    lines.Add((b.Name, [p, q]));
                    labelAt = ((p.X + q.X) / 2, (p.Y + q.Y) / 2);
                }
            }
            else if (b.Tensors.Length == 1)
            {
                var p = pos[b.Tensors[0]];
                var dir = Away(b, pos, layout, unit);
                var end = (p.X + dir.X * 0.42 * unit, p.Y + dir.Y * 0.42 * unit);
                Segment(plot, p, end, color, width, severed);
                labelAt = end;
            }
            else if (b.Wide)
            {
                // A wide hyperindex (a batch) would cover the picture in lines: a black tick on each carrier instead,
                // each wide index its own shape (an MPO kernel's q and k), side by side on a tensor that carries several.
                var ticks = wide.IndexOf(b);
                foreach (var t in b.Tensors)
                {
                    double aside = 0.1 * unit * wide.Take(ticks).Count(w => w.Tensors.Contains(t));
                    // On a bar, below its left end (above it the bonds come down).
                    var tick = layout.Bars.Contains(t) ? (X: BarSpan(t, pos, layout, unit).From + aside, Y: pos[t].Y - 0.22 * unit)
                                                       : (X: pos[t].X - 0.22 * unit + aside, Y: pos[t].Y + 0.22 * unit);
                    plot.Add.Marker(tick.X, tick.Y, TickShapes[ticks % TickShapes.Length], (float)Math.Min(5, 0.2 * pixels), Colors.Black);
                }
                continue;
            }
            else
            {
                var hub = Hub(b, pos, layout, unit);
                foreach (var t in b.Tensors)
                {
                    Segment(plot, pos[t], hub, color, width, severed);
                    spokes.Add((b.Name, t, pos[t], hub));
                }
                plot.Add.Marker(hub.X, hub.Y, MarkerShape.FilledSquare, (float)Math.Min(7, 0.25 * pixels), Colors.Black);
                hubs.Add(hub);
                // Its size beside the hub, not over it.
                labelAt = (hub.X + 0.2 * unit, hub.Y);
            }
            if (layout.Bonds.Length <= 160 || severed)
                labels.Add(new(b, labelAt, severed, bends.TryGetValue(b.Index, out double bowed) ? bowed : 0));
        }
        // A marker's diameter: 0.28 units at most (a radius of 0.14, inside the clearance of 0.3), at most 20 pixels
        // (11 past 120 tensors, 7 past 400), at least 2.
        float size = (float)Math.Clamp(0.28 * pixels, 2, small ? 20 : n <= 400 ? 11 : 7);
        for (int t = 0; t < n; t++)
        {
            var tensor = net.Tensors[t];
            if (layout.Bars.Contains(t))
            {
                // An input under the tensors it feeds: a bar as wide as they are, named at its left end.
                var (from, to) = BarSpan(t, pos, layout, unit);
                if (cut is not null)
                    Segment(plot, (from, pos[t].Y), (to, pos[t].Y), cut.LeftTensors.Contains(tensor.Name) ? SideA : SideB, size + 4, false);
                var bar = looks[tensor.Family];
                // An outlined look as a bar: its outline a wider line under its fill.
                if (bar.Outline is { } edge)
                    Segment(plot, (from - 0.03 * unit, pos[t].Y), (to + 0.03 * unit, pos[t].Y), edge, size / 2 + 4, false);
                Segment(plot, (from, pos[t].Y), (to, pos[t].Y), bar.Fill, bar.Outline is null ? size / 2 : size / 2 - 1, false);
                if (small || named.Contains(tensor.Family))
                {
                    var name = plot.Add.Text(tensor.Family, from, pos[t].Y);
                    name.LabelFontSize = 11;
                    name.LabelBold = true;
                    name.LabelAlignment = Alignment.MiddleRight;
                    name.OffsetX = -6;
                }
                continue;
            }
            if (cut is not null)
                plot.Add.Marker(pos[t].X, pos[t].Y, MarkerShape.FilledCircle, size + 10,
                    cut.LeftTensors.Contains(tensor.Name) ? SideA : SideB);
            var shape = tensor.IsInput ? MarkerShape.FilledSquare : tensor.IsConst ? MarkerShape.FilledDiamond : MarkerShape.FilledCircle;
            var look = looks[tensor.Family];
            var marker = plot.Add.Marker(pos[t].X, pos[t].Y, shape, size, look.Fill);
            if (look.Outline is { } outline)
            {
                marker.MarkerStyle.OutlineColor = outline;
                marker.MarkerStyle.OutlineWidth = (float)Math.Max(1, look.OutlineShare * size);
            }
            if (small || named.Contains(tensor.Family))
            {
                // Just outside the marker (and the ring of a cut's side), clear of every line, so never on a bond's
                // size label: above where there is room, in a grid up to the left (between the bonds, away from the
                // legs: the same place on every tensor).
                double angle = LabelAngle(t, pos, layout, unit);
                double reach = (cut is not null ? size + 8 : size) / 2 + 3;
                var label = plot.Add.Text(tensor.Family, pos[t].X, pos[t].Y);
                label.LabelFontSize = 11;
                label.LabelBold = true;
                label.LabelAlignment = AlignmentTowards(angle);
                label.OffsetX = (float)(reach * Math.Cos(angle));
                label.OffsetY = (float)(-reach * Math.Sin(angle));
            }
        }

        foreach (var f in families)
        {
            var first = net.Tensors.First(t => t.Family == f);
            var look = looks[f];
            var item = new LegendItem
            {
                LabelText = $"{f} ({(first.IsInput ? "input" : first.IsConst ? "const" : "weight")}, {net.Tensors.Count(t => t.Family == f)})" +
                            (named.Contains(f) ? ", named on its tensors" : ""),
                MarkerShape = first.IsInput ? MarkerShape.FilledSquare : first.IsConst ? MarkerShape.FilledDiamond : MarkerShape.FilledCircle,
                MarkerFillColor = look.Fill,
                MarkerLineColor = look.Outline ?? look.Fill,
                MarkerSize = 10,
            };
            if (look.Outline is { } outline)
            {
                item.MarkerStyle.OutlineColor = outline;
                item.MarkerStyle.OutlineWidth = (float)Math.Max(1.5, look.OutlineShare * 10);
            }
            plot.Legend.ManualItems.Add(item);
        }
        foreach (var (b, k) in wide.Select((b, k) => (b, k)))
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"{b.Name} ({b.Size}): hyperindex on the {b.Tensors.Length} tensors ticked", MarkerShape = TickShapes[k % TickShapes.Length], MarkerFillColor = Colors.Black, MarkerLineColor = Colors.Black, MarkerSize = 6 });
        if (layout.Bonds.Any(b => b.Tensors.Length > 2 && !b.Wide))
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = "hyperindex (joins the lines)", MarkerShape = MarkerShape.FilledSquare, MarkerFillColor = Colors.Black, MarkerSize = 7 });
        if (cut is not null)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"severed by cut {cut.Name} ({cut.Severed.Count})", LineColor = red, LineWidth = 3, LinePattern = LinePattern.Dashed });
            // The count says where a side holds no tensor (a cut of open legs alone, as convac's odd_even).
            int left = net.Tensors.Count(t => cut.LeftTensors.Contains(t.Name));
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"A side ({Count(left, "tensor")})", MarkerShape = MarkerShape.FilledCircle, MarkerFillColor = SideA, MarkerLineColor = SideA, MarkerSize = 12 });
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"B side ({Count(n - left, "tensor")})", MarkerShape = MarkerShape.FilledCircle, MarkerFillColor = SideB, MarkerLineColor = SideB, MarkerSize = 12 });
        }
        plot.ShowLegend(Edge.Right);
        string kind = layout.Kind.ToString().ToLowerInvariant();
        string title = $"{net.Name}: {Count(n, "tensor")}, {Count(layout.Bonds.Count(b => !b.Open && b.Tensors.Length > 1), "bond")}, " +
                       $"{Count(layout.Bonds.Count(b => b.Open), "open leg")} ({kind} layout)";
        if (cut is not null)
            title += $"\ncut {cut.Name}: {Count(cut.Severed.Count, "bond")} severed, rank bound 2^{cut.Bits:0.##}";
        else if (layout.Bonds.Length > 160)
            title += "\nbond sizes: line width grows with log2(size)";
        if (pixels < Overview)
            title += $"\noverview: the closest tensors {pixels:0} px apart, too close to read; draw a smaller instance (--set)";
        plot.Title(title, size: 14);
        // Bowed bonds (a detour round a tensor) and hubs can reach past the tensors: the frame takes them in.
        var reached = pos.Concat(lines.SelectMany(l => l.Points)).Concat(hubs).ToList();
        Frame(plot, reached.Select(p => p.X), reached.Select(p => p.Y), unit);

        // Laid out once at the size it is drawn at (SizeFor), for the title's room and the labels' pixels.
        var (titleWidth, titleRoom) = FitTitle(plot, title, pixelsWide, pixelsHigh);
        plot.GetImage(pixelsWide, pixelsHigh).Dispose();
        var boxes = new List<(double Left, double Top, double Right, double Bottom)>();
        foreach (var label in labels)
        {
            var text = label.Bond.Size.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var at = PlaceLabel(plot, label, text, pos, layout, boxes, unit);
            var drawn = plot.Add.Text(text, at.X, at.Y);
            drawn.LabelFontSize = 10;
            drawn.LabelFontColor = label.Severed ? red : Colors.DimGray;
            drawn.LabelAlignment = Alignment.MiddleCenter;
            drawn.LabelBackgroundColor = Colors.White.WithAlpha(0.85);
        }
        var pixelLines = lines.Select(l => (l.Bond, (IReadOnlyList<(double X, double Y)>)l.Points
            .Select(p => plot.GetPixel(new Coordinates(p.X, p.Y))).Select(p => ((double)p.X, (double)p.Y)).ToArray())).ToList();
        (double X, double Y) Pixel((double X, double Y) p)
        {
            var q = plot.GetPixel(new Coordinates(p.X, p.Y));
            return (q.X, q.Y);
        }
        var centres = pos.Select(Pixel).ToArray();
        var pixelSpokes = spokes.Select(s => (s.Bond, s.Tensor, Pixel(s.From), Pixel(s.Hub))).ToList();
        return (plot, new Geometry(titleWidth, titleRoom, boxes, pixelLines, centres, size / 2, pixelSpokes, title));
    }

    sealed record BondLabel(DrawnBond Bond, (double X, double Y) At, bool Severed, double Bend);

    /// How far (in units) each bond between two tensors that other bonds also join is bowed to its side: the k
    /// bonds of a pair are spread evenly about the straight line, 0.26 units apart at their middles, so that
    /// each is seen and labelled on its own; a pair the layout detours (<see cref="NetworkLayout.Detours"/>) is bowed
    /// that much more. Bonds alone between their tensors and not detoured are not listed (drawn straight).
    static Dictionary<int, double> Bends(NetworkLayout layout)
    {
        var bends = new Dictionary<int, double>();
        var pairs = layout.Bonds.Where(b => b.Tensors.Length == 2)
            .GroupBy(b => (Math.Min(b.Tensors[0], b.Tensors[1]), Math.Max(b.Tensors[0], b.Tensors[1])));
        foreach (var pair in pairs)
        {
            var shared = pair.ToList();
            double detour = layout.Detours.TryGetValue(shared[0].Index, out double d) ? d : 0;
            if (shared.Count > 1 || detour != 0)
                for (int i = 0; i < shared.Count; i++)
                    bends[shared[i].Index] = (i - (shared.Count - 1) / 2.0) * 0.26 + detour;
        }
        return bends;
    }

    /// The control point of a bowed bond's quadratic curve: off the middle of its two ends (taken in id order,
    /// so that every bond of a pair bows against the same side) by twice the bend, which puts the curve's middle
    /// <paramref name="bend"/> units off the straight line.
    static (double X, double Y) Control(DrawnBond b, (double X, double Y)[] pos, NetworkLayout layout, double bend, double unit)
    {
        var (p, q) = Ends(b, pos, layout);
        if (b.Tensors[0] > b.Tensors[1])
            (p, q) = (q, p);
        double dx = q.X - p.X, dy = q.Y - p.Y, length = Math.Max(1e-12, Math.Sqrt(dx * dx + dy * dy));
        return ((p.X + q.X) / 2 - dy / length * 2 * bend * unit, (p.Y + q.Y) / 2 + dx / length * 2 * bend * unit);
    }

    /// A point of a bowed bond's curve, a fraction <paramref name="f"/> of the way from its first tensor
    /// (<see cref="NetworkLayout.Bowed"/>, from the lower-numbered tensor).
    static (double X, double Y) OnCurve(DrawnBond b, (double X, double Y)[] pos, NetworkLayout layout, double bend, double unit, double f)
    {
        var (p, q) = Ends(b, pos, layout);
        return b.Tensors[0] > b.Tensors[1] ? NetworkLayout.Bowed(q, p, bend, unit, 1 - f) : NetworkLayout.Bowed(p, q, bend, unit, f);
    }

    /// A bowed bond's curve as 17 points (its middle the 9th).
    static (double X, double Y)[] Curve(DrawnBond b, (double X, double Y)[] pos, NetworkLayout layout, double bend, double unit) =>
        Enumerable.Range(0, 17).Select(i => OnCurve(b, pos, layout, bend, unit, i / 16.0)).ToArray();

    /// The two ends of a bond between two tensors, in the order of its tensors: each tensor's centre, except that a
    /// bond to a bar ends on the bar straight under the other tensor.
    static ((double X, double Y) P, (double X, double Y) Q) Ends(DrawnBond b, (double X, double Y)[] pos, NetworkLayout layout)
    {
        var (p, q) = (pos[b.Tensors[0]], pos[b.Tensors[1]]);
        if (layout.Bars.Contains(b.Tensors[0]))
            p = (q.X, p.Y);
        else if (layout.Bars.Contains(b.Tensors[1]))
            q = (p.X, q.Y);
        return (p, q);
    }

    /// Where a hyperindex's hub is drawn (picture coordinates, y up): where the layout placed it
    /// (<see cref="NetworkLayout.Hubs"/>), else just off its tensors' middle (<see cref="NetworkLayout.HubNear"/>).
    static (double X, double Y) Hub(DrawnBond b, (double X, double Y)[] pos, NetworkLayout layout, double unit)
    {
        if (layout.Hubs.TryGetValue(b.Index, out var placed))
            return (placed.X, -placed.Y);
        var near = NetworkLayout.HubNear(b, layout.Positions, unit);
        return (near.X, -near.Y);
    }

    /// How far a bar reaches (picture x): a little past the outermost tensors it feeds.
    static (double From, double To) BarSpan(int t, (double X, double Y)[] pos, NetworkLayout layout, double unit)
    {
        var fed = layout.Bonds.Where(b => !b.Wide && b.Tensors.Length > 1 && b.Tensors.Contains(t))
            .SelectMany(b => b.Tensors).Where(u => u != t).Select(u => pos[u].X).DefaultIfEmpty(pos[t].X).ToList();
        return (fed.Min() - 0.3 * unit, fed.Max() + 0.3 * unit);
    }

    /// Where a bond's size label goes: at its middle (a stub's end, a hub) unless that box would overlap a label
    /// already placed; then slid along the bond, nearest the middle first; where every place overlaps, the one that
    /// overlaps least. The chosen box is added to <paramref name="boxes"/>.
    static (double X, double Y) PlaceLabel(Plot plot, BondLabel label, string text, (double X, double Y)[] pos, NetworkLayout layout,
        List<(double Left, double Top, double Right, double Bottom)> boxes, double unit)
    {
        var b = label.Bond;
        var candidates = new List<(double X, double Y)> { label.At };
        if (b.Tensors.Length <= 2)
        {
            var from = b.Tensors.Length == 2 ? Ends(b, pos, layout).P : pos[b.Tensors[0]];
            var to = label.At;
            if (b.Tensors.Length == 2 && label.Bend != 0)
                foreach (var f in new[] { 0.35, 0.65, 0.25, 0.75, 0.42, 0.58, 0.3, 0.7 })
                    candidates.Add(OnCurve(b, pos, layout, label.Bend, unit, f));
            else if (b.Tensors.Length == 2)
            {
                var q = Ends(b, pos, layout).Q;
                foreach (var f in new[] { 0.35, 0.65, 0.25, 0.75, 0.42, 0.58, 0.3, 0.7 })
                    candidates.Add((from.X + (q.X - from.X) * f, from.Y + (q.Y - from.Y) * f));
            }
            else
                foreach (var f in new[] { 0.8, 0.6 })
                    candidates.Add((from.X + (to.X - from.X) * f, from.Y + (to.Y - from.Y) * f));
        }
        // Text of 10 points: about 6.5 pixels a digit and 14 high, with the background's margin.
        double halfW = (6.5 * text.Length + 4) / 2, halfH = 8;
        (double, double, double, double) Box((double X, double Y) at)
        {
            var p = plot.GetPixel(new Coordinates(at.X, at.Y));
            return (p.X - halfW, p.Y - halfH, p.X + halfW, p.Y + halfH);
        }
        static double Overlap((double L, double T, double R, double B) a, (double L, double T, double R, double B) c) =>
            Math.Max(0, Math.Min(a.R, c.R) - Math.Max(a.L, c.L)) * Math.Max(0, Math.Min(a.B, c.B) - Math.Max(a.T, c.T));
        var best = candidates[0];
        double least = double.PositiveInfinity;
        foreach (var c in candidates)
        {
            var box = Box(c);
            double overlap = boxes.Sum(o => Overlap(box, o));
            if (overlap < least - 1e-9)
                (best, least) = (c, overlap);
            if (overlap == 0)
                break;
        }
        boxes.Add(Box(best));
        return best;
    }

    /// Wraps the title (at its commas) until every line fits the picture: ScottPlot centres it over the data area,
    /// which the legend pushes left, so a long line would run off the left edge; a line that still does not fit
    /// (one long name) shrinks the font, down to 10 points, and is then broken where it must be. Returns the widest
    /// line and the room (pixels).
    static (double Width, double Room) FitTitle(Plot plot, string title, int width, int height)
    {
        plot.GetImage(width, height).Dispose();
        var data = plot.RenderManager.LastRender.DataRect;
        double room = 2 * Math.Min(data.HorizontalCenter, width - data.HorizontalCenter) - 16;
        double Width(string line)
        {
            plot.Axes.Title.Label.Text = line;
            using var paint = Paint.NewDisposablePaint();
            return plot.Axes.Title.Label.Measure(paint).Width;
        }
        var lines = new List<string>();
        foreach (var line in title.Split('\n'))
        {
            string current = "";
            foreach (var piece in SplitAfterCommas(line))
            {
                if (current.Length > 0 && Width(current + piece) > room)
                {
                    lines.Add(current.TrimEnd());
                    current = "";
                }
                current += piece;
            }
            lines.Add(current.TrimEnd());
        }
        float size = 14;
        while (size > 10 && lines.Max(Width) > room)
            plot.Axes.Title.Label.FontSize = size -= 1;
        // A single piece wider than the picture at 10 points (a very long name) is broken where it must be.
        lines = lines.SelectMany(line =>
        {
            var parts = new List<string>();
            while (line.Length > 1 && Width(line) > room)
            {
                int fit = 1;
                while (fit < line.Length - 1 && Width(line[..(fit + 1)]) <= room)
                    fit++;
                parts.Add(line[..fit]);
                line = line[fit..];
            }
            parts.Add(line);
            return parts;
        }).ToList();
        double widest = lines.Max(Width);
        plot.Axes.Title.Label.Text = string.Join("\n", lines);
        return (widest, room);
    }

    static IEnumerable<string> SplitAfterCommas(string line)
    {
        int start = 0;
        for (int i = 0; i < line.Length; i++)
            if ((line[i] == ',' && i + 1 < line.Length && line[i + 1] == ' ') || (line[i] == ' ' && i + 1 < line.Length && line[i + 1] == '('))
            {
                yield return line[start..(i + 1)];
                start = i + 1;
            }
        yield return line[start..];
    }

    /// <summary>Where <see cref="Tree"/>'s parts landed, in pixels of the picture at its size (<c>Width</c> ×
    /// <c>Height</c>, what <c>tn draw --plan</c> writes): the pixels between neighbouring leaves and between levels,
    /// each leaf's and each step's centre and the radius of their markers, the box of each step's flops label (none
    /// where they do not all fit), the data area (left, top, right, bottom), whether the leaves are named, and the
    /// title as drawn.</summary>
    public sealed record TreeGeometry(int Width, int Height, double PixelsPerLeaf, double PixelsPerLevel,
        IReadOnlyList<(double X, double Y)> Leaves, double LeafRadius, IReadOnlyList<(double X, double Y)> Steps, double StepRadius,
        IReadOnlyList<(double Left, double Top, double Right, double Bottom)> LabelBoxes,
        (double Left, double Top, double Right, double Bottom) Data, bool LeavesNamed, string Title);

    /// <summary>Below this many pixels between neighbouring leaves of a contraction tree their names (drawn across
    /// the leaves, 10 points high) are left out and the title says the picture is an overview.</summary>
    public const double LeafRoom = 13;

    /// <summary>The contraction tree of a plan: leaves (tensors) along the bottom, each step above its operands at
    /// the height of its subtree, coloured by log10 of its flops and labelled with them where the labels fit.</summary>
    public static Plot Tree(PlanView plan, string networkName, string chosen) => DrawnTree(plan, networkName, chosen).Plot;

    /// <summary>The picture of <see cref="Tree"/> with its <see cref="TreeGeometry"/>. 28 pixels a leaf and 48 a
    /// level, growing up to <see cref="MaxWidth"/> × <see cref="MaxHeight"/>: a larger tree is drawn smaller, its
    /// markers and lines shrinking with the pixels between leaves and levels, so that no two markers touch.</summary>
    public static (Plot Plot, TreeGeometry Geometry) DrawnTree(PlanView plan, string networkName, string chosen)
    {
        var plot = new Plot();
        int leaves = plan.LeafCount;
        var children = new Dictionary<int, int[]>();
        var flops = new Dictionary<int, BigInteger>();
        foreach (var s in plan.TreeSteps)
        {
            children[s.Node] = s.Children;
            flops[s.Node] = s.Flops;
        }
        int steps = plan.TreeSteps.Count;
        var x = new double[leaves + steps];
        var h = new double[x.Length];
        double nextLeaf = 0;
        // Depth first from the root, on an explicit stack: a caterpillar's recursion is as deep as the tree is tall.
        var stack = new Stack<(int Node, bool Placed)>();
        stack.Push((leaves + steps - 1, false));
        while (stack.Count > 0)
        {
            var (node, placed) = stack.Pop();
            if (node < leaves)
                x[node] = nextLeaf++;
            else if (placed)
            {
                x[node] = children[node].Average(c => x[c]);
                h[node] = children[node].Max(c => h[c]) + 1;
            }
            else
            {
                stack.Push((node, true));
                foreach (var c in children[node].Reverse())
                    stack.Push((c, false));
            }
        }
        double top = h.Max();
        int width = (int)Math.Clamp(leaves * 28.0 + 500, 800, MaxWidth), height = (int)Math.Clamp(top * 48 + 420, 700, MaxHeight);

        double lo = flops.Values.Select(f => BigInteger.Log10(BigInteger.Max(f, 1))).DefaultIfEmpty(0).Min();
        double hi = flops.Values.Select(f => BigInteger.Log10(BigInteger.Max(f, 1))).DefaultIfEmpty(0).Max();
        var colormap = new ScottPlot.Colormaps.Viridis();
        Color Shade(BigInteger f) => colormap.GetColor(hi > lo ? (BigInteger.Log10(BigInteger.Max(f, 1)) - lo) / (hi - lo) : 0.5);
        var lines = new List<ScottPlot.Plottables.LinePlot>();
        foreach (var (node, cs) in children)
            foreach (var c in cs)
            {
                var line = plot.Add.Line(x[c], h[c], x[node], h[node]);
                line.LineColor = Colors.Gray;
                line.MarkerSize = 0;
                lines.Add(line);
            }
        var leafMarkers = Enumerable.Range(0, leaves).Select(t => plot.Add.Marker(x[t], 0, MarkerShape.FilledCircle, 8, Colors.Black)).ToArray();
        var stepNodes = flops.Keys.ToArray();
        var stepMarkers = stepNodes.Select(node => plot.Add.Marker(x[node], h[node], MarkerShape.FilledCircle, 13, Shade(flops[node]))).ToArray();
        foreach (var (label, fraction) in new[] { ("least flops", 0.0), ("most flops", 1.0) })
            plot.Legend.ManualItems.Add(new LegendItem
            {
                LabelText = $"{label}: 10^{lo + fraction * (hi - lo):0.#}",
                MarkerShape = MarkerShape.FilledCircle,
                MarkerFillColor = colormap.GetColor(fraction),
                MarkerSize = 12,
            });
        plot.ShowLegend(Edge.Right);
        plot.Axes.Left.Label.Text = "height of the subtree (steps)";
        plot.Axes.Bottom.TickLabelStyle.IsVisible = false;
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Bottom.MinorTickStyle.Length = 0;
        // A line a leaf would cover the picture: levels only.
        plot.Grid.XAxisStyle.IsVisible = false;
        plot.Axes.Bottom.Label.Text = "tensors, in the tree's order";
        plot.Axes.Left.TickGenerator = LevelTicks(top, 12);

        // Margins in pixels round the tree (room for the markers), over the data area's pixels.
        const double side = 16, below = 12, above = 16;
        double Px(double pixels, double units) => units > 0 ? pixels / units : pixels;
        (double Leaf, double Level) Scale(PixelRect data) =>
            (Px(data.Width - 2 * side, Math.Max(1, leaves - 1)), Px(data.Height - below - above, Math.Max(1, top)));
        // A single leaf in the middle.
        double shift = leaves == 1 ? 0.5 : 0;
        void Limits((double Leaf, double Level) px) =>
            plot.Axes.SetLimits(-shift - side / px.Leaf, Math.Max(1, leaves - 1) - shift + side / px.Leaf, -below / px.Level, Math.Max(1, top) + above / px.Level);

        // The first layout finds the pixels a leaf gets (the data area's width does not depend on the title or the
        // names below it); whether the names fit decides the axis under the leaves and the title's overview line.
        string head = $"{networkName}: contraction tree, {PlanView.Scientific(plan.Flops)} flops in {Count(steps, "step")}\n({chosen})\n" +
                      $"largest intermediate {PlanView.Scientific(plan.LargestIntermediate)} elements\n";
        const string labelled = "each step labelled with its flops", coloured = "each step coloured by its flops (too close to label)";
        plot.Title(head + labelled, size: 14);
        // The renders that lay the picture out measure its frame (title, axes, legend), which the tree's lines and
        // markers (thousands on a large tree) do not change: those are hidden there, and drawn once, when saved.
        ScottPlot.IPlottable[] drawn = [.. lines, .. leafMarkers, .. stepMarkers];
        void Measure(Action render)
        {
            foreach (var p in drawn)
                p.IsVisible = false;
            render();
            foreach (var p in drawn)
                p.IsVisible = true;
        }
        // The limits autoscaling would give the first render: every level on the left axis, as in the picture.
        plot.Axes.SetLimits(-0.5, Math.Max(1, leaves - 1) + 0.5, -0.5, Math.Max(1, top) + 0.5);
        Measure(() => plot.GetImage(width, height).Dispose());
        var pixels = Scale(plot.RenderManager.LastRender.DataRect);
        bool named = pixels.Leaf >= LeafRoom;
        if (named)
        {
            var names = new ScottPlot.TickGenerators.NumericManual();
            for (int t = 0; t < leaves; t++)
                names.AddMajor(x[t], plan.LeafNames[t]);
            plot.Axes.Bottom.TickGenerator = names;
            plot.Axes.Bottom.TickLabelStyle.IsVisible = true;
            plot.Axes.Bottom.TickLabelStyle.FontSize = 10;
            plot.Axes.Bottom.TickLabelStyle.Rotation = 90;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            // ScottPlot sizes the axis for level labels: room for the longest name across, and the axis's own label.
            using var paint = Paint.NewDisposablePaint();
            double longest = plan.LeafNames.Select(n => (double)plot.Axes.Bottom.TickLabelStyle.Measure(n, paint).Width).DefaultIfEmpty(0).Max();
            plot.Axes.Bottom.MinimumSize = (float)(longest + 40);
        }
        else
            plot.Axes.Bottom.Label.Text = $"{leaves} tensors, in the tree's order";
        string overview = named ? "" : $"\noverview: the leaves {pixels.Leaf:0.#} px apart, too close to name; draw a smaller instance (--set)";

        // Lays the picture out with this last line of the title: the limits keep the margins in pixels, the markers
        // as wide as the room between them allows (2 pixels at the least: an overview), the lines thinner.
        PixelRect data = default;
        float leafSize = 0, stepSize = 0;
        (double X, double Y)[] leafCentres = [], stepCentres = [];
        void Layout(string last)
        {
            Measure(() =>
            {
                FitTitle(plot, head + last + overview, width, height);
                plot.GetImage(width, height).Dispose();
                pixels = Scale(plot.RenderManager.LastRender.DataRect);
                Limits(pixels);
                plot.Axes.Left.TickGenerator = LevelTicks(top, Math.Max(4, (int)(plot.RenderManager.LastRender.DataRect.Height / 70)));
                plot.GetImage(width, height).Dispose();
            });
            data = plot.RenderManager.LastRender.DataRect;
            (double X, double Y) Pixel(double px, double py)
            {
                var p = plot.GetPixel(new Coordinates(px, py));
                return (p.X, p.Y);
            }
            leafCentres = Enumerable.Range(0, leaves).Select(t => Pixel(x[t], 0)).ToArray();
            stepCentres = stepNodes.Select(node => Pixel(x[node], h[node])).ToArray();
            // A step is a level above the leaves and at least a leaf from any other step, often much more (a step
            // and its parent a level apart): its marker takes most of the room it has.
            double room = stepCentres.Length < 2 ? pixels.Level : Math.Min(pixels.Level, NetworkLayout.Spacing(stepCentres));
            leafSize = (float)Math.Clamp(0.6 * pixels.Leaf, 2, 8);
            stepSize = (float)Math.Clamp(0.8 * room, 2, 13);
            foreach (var m in leafMarkers)
                m.MarkerSize = leafSize;
            foreach (var m in stepMarkers)
                m.MarkerSize = stepSize;
            foreach (var l in lines)
                l.LineWidth = (float)Math.Clamp(0.15 * Math.Min(pixels.Leaf, pixels.Level), 0.5, 1.5);
        }
        Layout(labelled);

        // Each step's flops to the right of its marker (to the left where the frame ends there), all of them or none:
        // they are drawn where no label overlaps another or a marker.
        var texts = stepNodes.Select(node => PlanView.Scientific(flops[node])).ToArray();
        var right = new bool[stepNodes.Length];
        var boxes = new List<(double Left, double Top, double Right, double Bottom)>();
        for (int k = 0; k < stepNodes.Length; k++)
        {
            // Text of 10 points: about 6.5 pixels a digit and 14 high, with the background's margin.
            double w = 6.5 * texts[k].Length + 4, gap = stepSize / 2 + 3;
            var (cx, cy) = stepCentres[k];
            right[k] = cx + gap + w <= data.Right;
            boxes.Add(right[k] ? (cx + gap, cy - 8, cx + gap + w, cy + 8) : (cx - gap - w, cy - 8, cx - gap, cy + 8));
        }
        bool fits = LabelsFit(boxes, [.. leafCentres, .. stepCentres], [.. Enumerable.Repeat(leafSize / 2.0, leaves), .. Enumerable.Repeat(stepSize / 2.0, stepNodes.Length)], data);
        if (fits)
            for (int k = 0; k < stepNodes.Length; k++)
            {
                var text = plot.Add.Text(texts[k], x[stepNodes[k]], h[stepNodes[k]]);
                text.LabelFontSize = 10;
                text.LabelAlignment = right[k] ? Alignment.MiddleLeft : Alignment.MiddleRight;
                text.OffsetX = (float)((right[k] ? 1 : -1) * (stepSize / 2 + 3));
                text.LabelBackgroundColor = Colors.White.WithAlpha(0.8);
            }
        else
        {
            Layout(coloured);
            boxes.Clear();
        }
        return (plot, new TreeGeometry(width, height, pixels.Leaf, pixels.Level, leafCentres, leafSize / 2.0, stepCentres, stepSize / 2.0,
            boxes, (data.Left, data.Top, data.Right, data.Bottom), named, plot.Axes.Title.Label.Text));
    }

    /// Ticks at whole levels from 0 to <paramref name="top"/>, about <paramref name="most"/> of them, every 1, 2 or 5 × 10^k.
    static ScottPlot.TickGenerators.NumericManual LevelTicks(double top, int most)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        double raw = Math.Max(1, top / Math.Max(1, most)), magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        int every = (int)(new[] { 1.0, 2, 5, 10 }.Select(f => f * magnitude).First(v => v >= raw - 1e-9));
        for (int level = 0; level <= top; level += every)
            ticks.AddMajor(level, level.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return ticks;
    }

    /// Whether every box lies inside the data area, apart from the others and from every marker (centre, radius)
    /// but its own step's (a box never reaches its own marker: it starts 3 pixels past it).
    static bool LabelsFit(List<(double Left, double Top, double Right, double Bottom)> boxes, (double X, double Y)[] markers, double[] radii, PixelRect data)
    {
        if (boxes.Any(b => b.Left < data.Left || b.Right > data.Right || b.Top < data.Top || b.Bottom > data.Bottom))
            return false;
        // Swept by the left edge: only boxes (and markers) that reach across it are compared.
        var order = Enumerable.Range(0, boxes.Count).OrderBy(k => boxes[k].Left).ToArray();
        for (int i = 0; i < order.Length; i++)
            for (int j = i + 1; j < order.Length && boxes[order[j]].Left < boxes[order[i]].Right; j++)
            {
                var (a, b) = (boxes[order[i]], boxes[order[j]]);
                if (a.Top < b.Bottom && b.Top < a.Bottom)
                    return false;
            }
        for (int m = 0; m < markers.Length; m++)
            foreach (var b in boxes)
            {
                double nx = Math.Clamp(markers[m].X, b.Left, b.Right), ny = Math.Clamp(markers[m].Y, b.Top, b.Bottom);
                if ((nx - markers[m].X) * (nx - markers[m].X) + (ny - markers[m].Y) * (ny - markers[m].Y) < radii[m] * radii[m])
                    return false;
            }
        return true;
    }

    /// <summary>Saves as SVG or PNG by the file's extension, replacing the file only once the picture is whole (<see cref="SafeFile.Replace"/>).</summary>
    public static void Save(Plot plot, string path, int width, int height)
    {
        if (path.EndsWith(".svg", StringComparison.OrdinalIgnoreCase))
            SafeFile.ReplaceText(path, plot.GetSvgXml(width, height));
        else
            SafeFile.ReplaceBytes(path, plot.GetImageBytes(width, height, ImageFormat.Png));
    }

    /// <summary>The largest picture <c>tn draw</c> writes of a network, in pixels: a larger layout is drawn smaller,
    /// its markers and lines with it (<see cref="PixelsPerUnit"/>).</summary>
    public const int MaxWidth = 4000, MaxHeight = 3600;

    /// <summary>Below this many pixels between neighbouring tensors the picture says it is an overview.</summary>
    public const double Overview = 16;

    /// <summary>A pixel size that gives each tensor room: from the layout's extent, 90 pixels a unit (40 past 120
    /// tensors) up to <see cref="MaxWidth"/> × <see cref="MaxHeight"/>.</summary>
    public static (int Width, int Height) SizeFor(NetworkLayout layout)
    {
        var (width, height, _) = Frame(layout);
        return (width, height);
    }

    /// <summary>The pixels between neighbouring tensors (a unit of the layout) in the picture at <see cref="SizeFor"/>:
    /// 90 (40 past 120 tensors), fewer where the picture reached its largest size.</summary>
    public static double PixelsPerUnit(NetworkLayout layout) => Frame(layout).PixelsPerUnit;

    /// <see cref="SizeFor"/> and <see cref="PixelsPerUnit"/> from one measure of the layout (<see cref="Extent"/>).
    static (int Width, int Height, double PixelsPerUnit) Frame(NetworkLayout layout)
    {
        var (w, h, px) = Extent(layout);
        int width = (int)Math.Clamp(w * px + 420, 700, MaxWidth), height = (int)Math.Clamp(h * px + 260, 420, MaxHeight);
        // The room the data gets (the margins above) over the layout's extent and the frame's 0.8 units each side.
        return (width, height, Math.Min(px, Math.Min((width - 420) / (w + 1.6), (height - 260) / (h + 1.6))));
    }

    /// The layout's width and height in units, and the pixels a unit it asks for.
    static (double W, double H, int Px) Extent(NetworkLayout layout)
    {
        double unit = Unit(layout.Positions.Select(p => (p.X, p.Y)).ToArray());
        double w = layout.Positions.Max(p => p.X) - layout.Positions.Min(p => p.X);
        double h = layout.Positions.Max(p => p.Y) - layout.Positions.Min(p => p.Y);
        return (w / unit, h / unit, layout.Positions.Length <= 120 ? 90 : 40);
    }

    static void Polyline(Plot plot, (double X, double Y)[] points, Color color, float width, bool dashed)
    {
        var line = plot.Add.ScatterLine(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());
        line.LineColor = color;
        line.LineWidth = dashed ? Math.Max(width, 3) : width;
        line.MarkerSize = 0;
        if (dashed)
            line.LinePattern = LinePattern.Dashed;
    }

    static void Segment(Plot plot, (double X, double Y) a, (double X, double Y) b, Color color, float width, bool dashed)
    {
        var line = plot.Add.Line(a.X, a.Y, b.X, b.Y);
        line.LineColor = color;
        line.LineWidth = dashed ? Math.Max(width, 3) : width;
        line.MarkerSize = 0;
        if (dashed)
            line.LinePattern = LinePattern.Dashed;
    }

    /// The typical distance between neighbouring tensors (the smallest positive distance, for stub lengths).
    static double Unit((double X, double Y)[] pos) => NetworkLayout.Spacing(pos);

    /// <summary>The direction (radians, y up) in which tensor <paramref name="t"/>'s family label is drawn from its
    /// centre: clear of its bonds, open legs and batch tick (see <see cref="Network"/>).</summary>
    public static double LabelAngle(NetworkLayout layout, int t)
    {
        var pos = Flipped(layout);
        return LabelAngle(t, pos, layout, Unit(pos));
    }

    /// <summary>The direction (radians, y up) in which the open leg <paramref name="leg"/> is drawn from its tensor.</summary>
    public static double LegAngle(NetworkLayout layout, DrawnBond leg)
    {
        var pos = Flipped(layout);
        var d = Away(leg, pos, layout, Unit(pos));
        return Math.Atan2(d.Y, d.X);
    }

    static (double X, double Y)[] Flipped(NetworkLayout layout) => layout.Positions.Select(p => (p.X, -p.Y)).ToArray();

    static double LabelAngle(int t, (double X, double Y)[] pos, NetworkLayout layout, double unit) =>
        FreeAngle(LineAngles(t, pos, layout, unit), layout.Kind is LayoutKind.Grid ? 3 * Math.PI / 4 : Math.PI / 2);

    /// The direction of an open leg: along a line or from a bar, downwards; in a grid, down to the right, clear of the bonds
    /// between rows; in layers above inputs, upwards where that keeps clear of the bonds; elsewhere (the levels of a
    /// MERA or a tree, a force layout) into the widest gap between the tensor's bonds, so that the legs and their
    /// labels stay off the bonds. Several open legs on one tensor fan out over their gap.
    static (double X, double Y) Away(DrawnBond leg, (double X, double Y)[] pos, NetworkLayout layout, double unit)
    {
        int t = leg.Tensors[0];
        var open = layout.Bonds.Where(b => b.Tensors.Length == 1 && b.Tensors[0] == t).ToList();
        int k = open.IndexOf(leg);
        double spread = 0.6;
        double angle;
        if (layout.Kind is LayoutKind.Chain || layout.Bars.Contains(t))
            angle = -Math.PI / 2;
        else if (layout.Kind is LayoutKind.Grid)
            angle = -Math.PI / 4;
        else if (layout.Kind is LayoutKind.Layered)
        {
            // Layers grow upwards from the inputs: the legs point up where that is clear of the bonds.
            var bonds = BondAngles(t, pos, layout, unit);
            bonds.AddRange(PassingAngles(t, pos, layout, unit));
            angle = open.Count == 1 ? FreeAngle(bonds, Math.PI / 2) : WidestGap(bonds, Math.PI / 2);
            spread = Math.Min(0.6, Gap(bonds, angle) / (open.Count + 1));
        }
        else
        {
            var bonds = BondAngles(t, pos, layout, unit);
            bonds.AddRange(PassingAngles(t, pos, layout, unit));
            angle = WidestGap(bonds, -Math.PI / 2);
            // The legs share the gap: at most 0.6 rad apart, and a margin from the bonds on either side.
            spread = Math.Min(0.6, Gap(bonds, angle) / (open.Count + 1));
        }
        angle += (k - (open.Count - 1) / 2.0) * spread;
        return (Math.Cos(angle), Math.Sin(angle));
    }

    /// The angles (radians, y up) of the lines from tensor <paramref name="t"/> to its neighbours and hubs.
    static List<double> BondAngles(int t, (double X, double Y)[] pos, NetworkLayout layout, double unit)
    {
        var angles = new List<double>();
        var bends = Bends(layout);
        foreach (var b in layout.Bonds.Where(b => b.Tensors.Length > 1 && !b.Wide && b.Tensors.Contains(t)))
        {
            // A hyperindex's lines meet at its hub, drawn off the carriers' centre as in Network.
            var to = b.Tensors.Length == 2
                ? (b.Tensors[0] == t ? Ends(b, pos, layout).Q : Ends(b, pos, layout).P)
                : Hub(b, pos, layout, unit);
            // A bowed bond leaves its tensor towards its curve's control point.
            if (b.Tensors.Length == 2 && bends.TryGetValue(b.Index, out double bend))
                to = Control(b, pos, layout, bend, unit);
            double dx = to.X - pos[t].X, dy = to.Y - pos[t].Y;
            if (dx * dx + dy * dy > 1e-12)
                angles.Add(Math.Atan2(dy, dx));
        }
        return angles;
    }

    /// The directions (radians, y up) from tensor <paramref name="t"/> to the nearest points of the other tensors'
    /// bonds that pass within 0.7 units of it (past the clearance a layout keeps, a stub of 0.42 units and its label
    /// would reach them), so that its open legs and label point elsewhere; none past 400 tensors (the pictures too
    /// small for it to matter, and the search too long).
    static IEnumerable<double> PassingAngles(int t, (double X, double Y)[] pos, NetworkLayout layout, double unit)
    {
        if (pos.Length > 400)
            yield break;
        var bends = Bends(layout);
        foreach (var b in layout.Bonds.Where(b => b.Tensors.Length == 2 && !b.Wide && !b.Tensors.Contains(t)))
        {
            var line = bends.TryGetValue(b.Index, out double bend) ? Curve(b, pos, layout, bend, unit) : [Ends(b, pos, layout).P, Ends(b, pos, layout).Q];
            (double X, double Y) nearest = line[0];
            double least = double.PositiveInfinity;
            for (int k = 0; k + 1 < line.Length; k++)
            {
                var (p, q) = (line[k], line[k + 1]);
                double dx = q.X - p.X, dy = q.Y - p.Y, length2 = dx * dx + dy * dy;
                double f = length2 < 1e-12 ? 0 : Math.Clamp(((pos[t].X - p.X) * dx + (pos[t].Y - p.Y) * dy) / length2, 0, 1);
                var at = (X: p.X + f * dx, Y: p.Y + f * dy);
                double d = Math.Sqrt((at.X - pos[t].X) * (at.X - pos[t].X) + (at.Y - pos[t].Y) * (at.Y - pos[t].Y));
                if (d < least)
                    (least, nearest) = (d, at);
            }
            if (least < 0.7 * unit && least > 1e-9)
                yield return Math.Atan2(nearest.Y - pos[t].Y, nearest.X - pos[t].X);
        }
    }

    /// Everything drawn next to tensor <paramref name="t"/>: its bonds, its open legs and the tick of a wide
    /// hyperindex (up to the left).
    static List<double> LineAngles(int t, (double X, double Y)[] pos, NetworkLayout layout, double unit)
    {
        var angles = BondAngles(t, pos, layout, unit);
        angles.AddRange(PassingAngles(t, pos, layout, unit));
        if (layout.Bonds.Any(b => b.Wide && b.Tensors.Contains(t)))
            angles.Add(3 * Math.PI / 4);
        foreach (var leg in layout.Bonds.Where(b => b.Tensors.Length == 1 && b.Tensors[0] == t))
        {
            var d = Away(leg, pos, layout, unit);
            angles.Add(Math.Atan2(d.Y, d.X));
        }
        return angles;
    }

    /// The direction nearest <paramref name="preferred"/> that keeps 0.7 rad (40°) from every one of
    /// <paramref name="angles"/> (radians); where no gap is that wide, the middle of the widest one;
    /// <paramref name="preferred"/> itself when there are no lines.
    static double FreeAngle(List<double> angles, double preferred)
    {
        const double room = 0.7;
        if (angles.Count == 0)
            return preferred;
        var sorted = angles.Select(Normal).Order().ToList();
        double? best = null;
        for (int i = 0; i < sorted.Count; i++)
        {
            double from = sorted[i], to = i + 1 < sorted.Count ? sorted[i + 1] : sorted[0] + 2 * Math.PI;
            if (to - from < 2 * room)
                continue;
            // The preferred direction clamped into the part of this gap that keeps its room from both lines.
            double lo = from + room, hi = to - room, p = Normal(preferred - lo) + lo;
            double candidate = p <= hi ? p : Distance(lo, preferred) <= Distance(hi, preferred) ? lo : hi;
            if (best is null || Distance(candidate, preferred) < Distance(best.Value, preferred) - 1e-9)
                best = Normal(candidate);
        }
        return best ?? WidestGap(angles, preferred);
    }

    /// The middle of the widest gap between <paramref name="angles"/> (radians); where gaps tie (within 0.05 rad),
    /// the one nearest <paramref name="preferred"/>; <paramref name="preferred"/> itself when there are no lines.
    static double WidestGap(List<double> angles, double preferred)
    {
        if (angles.Count == 0)
            return preferred;
        var sorted = angles.Select(Normal).Order().ToList();
        double best = preferred, widest = -1;
        for (int i = 0; i < sorted.Count; i++)
        {
            double from = sorted[i], to = i + 1 < sorted.Count ? sorted[i + 1] : sorted[0] + 2 * Math.PI;
            double gap = to - from, middle = Normal(from + gap / 2);
            if (gap > widest + 0.05 || (gap > widest - 0.05 && Distance(middle, preferred) < Distance(best, preferred)))
                (best, widest) = (middle, Math.Max(gap, widest));
        }
        return best;
    }

    /// The width of the gap between <paramref name="angles"/> that holds <paramref name="at"/> (2π with no lines).
    static double Gap(List<double> angles, double at)
    {
        if (angles.Count == 0)
            return 2 * Math.PI;
        double a = Normal(at);
        double below = angles.Select(x => Normal(a - Normal(x))).Min(), above = angles.Select(x => Normal(Normal(x) - a)).Min();
        return below + above;
    }

    /// An angle in [0, 2π).
    static double Normal(double angle) => ((angle % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);

    /// The angle between two directions, in [0, π].
    static double Distance(double a, double b)
    {
        double d = Normal(a - b);
        return Math.Min(d, 2 * Math.PI - d);
    }

    /// The alignment that puts a label on the side of its anchor that <paramref name="angle"/> points to (y up).
    static Alignment AlignmentTowards(double angle)
    {
        int octant = (int)Math.Round(Normal(angle) / (Math.PI / 4)) % 8;
        return octant switch
        {
            0 => Alignment.MiddleLeft,
            1 => Alignment.LowerLeft,
            2 => Alignment.LowerCenter,
            3 => Alignment.LowerRight,
            4 => Alignment.MiddleRight,
            5 => Alignment.UpperRight,
            6 => Alignment.UpperCenter,
            _ => Alignment.UpperLeft,
        };
    }

    static void Frame(Plot plot, IEnumerable<double> xs, IEnumerable<double> ys, double unit)
    {
        plot.HideGrid();
        // The axes carry no meaning here: no ticks, labels or frame (the title stays).
        foreach (var axis in new ScottPlot.IAxis[] { plot.Axes.Left, plot.Axes.Right, plot.Axes.Bottom, plot.Axes.Top })
        {
            axis.TickLabelStyle.IsVisible = false;
            axis.MajorTickStyle.Length = 0;
            axis.MinorTickStyle.Length = 0;
            axis.FrameLineStyle.Width = 0;
        }
        double x0 = xs.Min(), x1 = xs.Max(), y0 = ys.Min(), y1 = ys.Max();
        // Room for open legs, labels and hubs around the tensors.
        plot.Axes.SetLimits(x0 - 0.8 * unit, x1 + 0.8 * unit, y0 - 0.8 * unit, y1 + 0.8 * unit);
    }

    /// <summary>"1 bond", "2 bonds".</summary>
    static string Count(int k, string noun) => k == 1 ? $"1 {noun}" : $"{k} {noun}s";
}
