// The alarm or alarms a script works on: DMA ID, element ID, root alarm ID, and what the hyperlink passes.
namespace Oceane.DataMiner
{
	using System;
	using System.Collections.Generic;
	using System.Globalization;
	using Skyline.DataMiner.Automation;

	/// <summary>An alarm across a DataMiner System: DMA ID, element ID and root alarm ID.</summary>
	public sealed class AlarmRef
	{
		public AlarmRef(int dmaId, int elementId, int alarmId)
		{
			DmaId = dmaId;
			ElementId = elementId;
			AlarmId = alarmId;
		}

		public int DmaId { get; private set; }

		public int ElementId { get; private set; }

		public int AlarmId { get; private set; }

		/// <summary>Parses the three IDs as DataMiner passes them (decimal strings).</summary>
		public static AlarmRef Parse(string dmaId, string elementId, string alarmId)
		{
			return new AlarmRef(
				ParseId(OceaneNames.DmaIdParam, dmaId),
				ParseId(OceaneNames.ElementIdParam, elementId),
				ParseId(OceaneNames.AlarmIdParam, alarmId));
		}

		/// <summary>A positive 32-bit integer, or an InputException naming the field.</summary>
		public static int ParseId(string field, string raw)
		{
			int value;
			string text = (raw ?? string.Empty).Trim();
			if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) || value <= 0)
			{
				throw new InputException(field + ": expected a positive integer, got '" + Shorten(text) + "'");
			}

			return value;
		}

		public override string ToString()
		{
			return DmaId.ToString(CultureInfo.InvariantCulture) + "/" + ElementId.ToString(CultureInfo.InvariantCulture)
				+ "/" + AlarmId.ToString(CultureInfo.InvariantCulture);
		}

		internal static string Shorten(string text)
		{
			return text.Length <= 40 ? text : text.Substring(0, 40) + "...";
		}
	}

	/// <summary>The alarm parameters the hyperlink passes for one alarm.</summary>
	public sealed class AlarmDetails
	{
		public AlarmRef Alarm { get; set; }

		public string ElementName { get; set; }

		public string AlarmValue { get; set; }

		/// <summary>Gets or sets the root time with its UTC offset, or empty (see <see cref="ParseRootTime"/>).</summary>
		public string RootTime { get; set; }

		/// <summary>
		/// Reads DMA ID, Element ID, Alarm ID, Element Name, Alarm Value and Root Time: one alarm, or, from a hyperlink
		/// with combineParameters="true", every selected alarm (each value the selection's values joined by
		/// OceaneNames.CombineSeparator). Alarms of one tree share a root alarm: each root alarm is listed once.
		/// </summary>
		public static List<AlarmDetails> FromScript(IEngine engine)
		{
			string[] dmaIds = Split(ScriptParams.Get(engine, OceaneNames.DmaIdParam));
			string[] elementIds = Split(ScriptParams.Get(engine, OceaneNames.ElementIdParam));
			string[] alarmIds = Split(ScriptParams.Get(engine, OceaneNames.AlarmIdParam));
			string[] names = Split(ScriptParams.Get(engine, OceaneNames.ElementNameParam));
			string[] values = Split(ScriptParams.Optional(engine, OceaneNames.AlarmValueParam));
			string[] times = Split(ScriptParams.Optional(engine, OceaneNames.RootTimeParam));
			int count = dmaIds.Length;
			if (elementIds.Length != count || alarmIds.Length != count || names.Length != count
				|| (values.Length != count && values.Length != 1) || (times.Length != count && times.Length != 1))
			{
				throw new InputException(OceaneNames.AlarmIdParam + ": the selection's parameters do not line up ("
					+ count.ToString(CultureInfo.InvariantCulture) + " DMA IDs, " + alarmIds.Length.ToString(CultureInfo.InvariantCulture)
					+ " alarm IDs); an element name or value may contain the separator");
			}

			var seen = new HashSet<string>();
			var result = new List<AlarmDetails>();
			for (int i = 0; i < count; i++)
			{
				var details = new AlarmDetails
				{
					Alarm = AlarmRef.Parse(dmaIds[i], elementIds[i], alarmIds[i]),
					ElementName = names[i].Trim(),
					AlarmValue = (values.Length == count ? values[i] : values[0]).Trim(),
					RootTime = ParseRootTime(times.Length == count ? times[i] : times[0]),
				};
				if (details.ElementName.Length == 0)
				{
					throw new InputException(OceaneNames.ElementNameParam + ": required (the hyperlink passes [ENAME])");
				}

				if (seen.Add(details.Alarm.ToString()))
				{
					result.Add(details);
				}
			}

			return result;
		}

		/// <summary>
		/// The root time as sent: "[ROOTTIME:yyyy-MM-ddTHH:mm:ssK]" is formatted by the Cube that shows the alarm,
		/// in that Cube's time zone, and "K" writes the offset only DataMiner knows (Hyperlinks_xml.md, "About the
		/// [ROOTTIME] and [TIME] keywords"; .NET's "K" specifier). A value without an offset cannot be placed in
		/// time truthfully, so it is left out (the intake then describes the alarm without it) rather than called UTC.
		/// </summary>
		public static string ParseRootTime(string raw)
		{
			string text = (raw ?? string.Empty).Trim();
			DateTimeOffset parsed;
			bool hasOffset = text.EndsWith("Z", StringComparison.OrdinalIgnoreCase)
				|| (text.Length > 6 && (text[text.Length - 6] == '+' || text[text.Length - 6] == '-') && text[text.Length - 3] == ':');
			if (!hasOffset || !DateTimeOffset.TryParseExact(
				text, new[] { "yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-ddTHH:mm:ssZ" }, CultureInfo.InvariantCulture, DateTimeStyles.None, out parsed))
			{
				return string.Empty;
			}

			return parsed.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture) + "Z";
		}

		private static string[] Split(string raw)
		{
			return (raw ?? string.Empty).Split(OceaneNames.CombineSeparator);
		}
	}
}
