// Setting the Oceane properties on one alarm (the UDAPI body, the web-service parameters, writer mode none).
namespace Oceane.DataMiner
{
	using System;
	using System.Collections;
	using System.Collections.Generic;
	using System.Globalization;
	using System.Linq;
	using Skyline.DataMiner.Automation;

	/// <summary>A request to set Oceane properties on one alarm (the UDAPI body or the web-service parameters).</summary>
	public sealed class PropertyUpdate
	{
		public PropertyUpdate(AlarmRef alarm, IDictionary<string, string> properties)
		{
			Alarm = alarm;
			Properties = properties;
		}

		public AlarmRef Alarm { get; private set; }

		public IDictionary<string, string> Properties { get; private set; }

		/// <summary>
		/// Parses {"dmaId": 12, "elementId": 345, "rootAlarmId": 67890, "properties": {"Oceane Ticket ID": "..."}}.
		/// </summary>
		public static PropertyUpdate ParseJson(string body)
		{
			if (string.IsNullOrWhiteSpace(body))
			{
				throw new InputException("body: expected a JSON object, got an empty body");
			}

			object parsed;
			try
			{
				parsed = Json.Parse(body);
			}
			catch (ArgumentException)
			{
				throw new InputException("body: not valid JSON");
			}
			catch (InvalidOperationException)
			{
				throw new InputException("body: not valid JSON");
			}

			var obj = parsed as IDictionary<string, object>;
			if (obj == null)
			{
				throw new InputException("body: expected a JSON object");
			}

			var alarm = new AlarmRef(IdMember(obj, "dmaId"), IdMember(obj, "elementId"), IdMember(obj, "rootAlarmId"));
			object rawProperties;
			var properties = obj.TryGetValue("properties", out rawProperties) ? rawProperties as IDictionary<string, object> : null;
			if (properties == null)
			{
				throw new InputException("properties: expected an object of alarm property names to string values");
			}

			var values = new Dictionary<string, string>();
			foreach (KeyValuePair<string, object> pair in properties)
			{
				if (pair.Value != null && !(pair.Value is string))
				{
					throw new InputException("properties." + pair.Key + ": expected a string");
				}

				values[pair.Key] = (string)pair.Value;
			}

			return Create(alarm, values);
		}

		/// <summary>Checks the names and values; null or empty values are dropped (nothing to write).</summary>
		public static PropertyUpdate Create(AlarmRef alarm, IDictionary<string, string> values)
		{
			var checkedValues = new Dictionary<string, string>();
			foreach (KeyValuePair<string, string> pair in values)
			{
				if (!OceaneNames.AlarmProperties.Contains(pair.Key))
				{
					throw new InputException("properties: '" + AlarmRef.Shorten(pair.Key) + "' is not allowed; allowed: "
						+ string.Join(", ", OceaneNames.AlarmProperties));
				}

				string value = (pair.Value ?? string.Empty).Trim();
				if (value.Length > OceaneNames.MaxPropertyLength)
				{
					throw new InputException("properties." + pair.Key + ": longer than "
						+ OceaneNames.MaxPropertyLength.ToString(CultureInfo.InvariantCulture) + " characters");
				}

				if (value.Length > 0)
				{
					checkedValues[pair.Key] = value;
				}
			}

			if (checkedValues.Count == 0)
			{
				throw new InputException("properties: give at least one of " + string.Join(", ", OceaneNames.AlarmProperties)
					+ " with a non-empty value");
			}

			return new PropertyUpdate(alarm, checkedValues);
		}

		/// <summary>Writes every property with the Swarming-safe overload (DMA ID, element ID, root alarm ID).</summary>
		public void Apply(IEngine engine)
		{
			foreach (string name in OceaneNames.AlarmProperties)
			{
				string value;
				if (Properties.TryGetValue(name, out value))
				{
					engine.SetAlarmProperty(Alarm.DmaId, Alarm.ElementId, Alarm.AlarmId, name, value);
				}
			}
		}

		/// <summary>The answer body: what was set on which alarm.</summary>
		public string ToJson()
		{
			var set = new Dictionary<string, object>();
			foreach (KeyValuePair<string, string> pair in Properties)
			{
				set[pair.Key] = pair.Value;
			}

			return Json.Serialize(new Dictionary<string, object>
			{
				{ "dmaId", Alarm.DmaId },
				{ "elementId", Alarm.ElementId },
				{ "rootAlarmId", Alarm.AlarmId },
				{ "properties", set },
			});
		}

		/// <summary>The ticket ID and URL of a created ticket (what writer mode none writes from the script).</summary>
		public static PropertyUpdate ForTicket(AlarmRef alarm, TicketAnswer answer)
		{
			return Create(alarm, new Dictionary<string, string>
			{
				{ OceaneNames.TicketIdProperty, answer.TicketId },
				{ OceaneNames.TicketUrlProperty, answer.TicketUrl },
			});
		}

		/// <summary>Writes a created ticket onto its alarm; the reason it could not, or null.</summary>
		public static string TryWriteTicket(IEngine engine, AlarmRef alarm, TicketAnswer answer)
		{
			try
			{
				ForTicket(alarm, answer).Apply(engine);
				return null;
			}
			catch (ScriptAbortException)
			{
				throw;
			}
			catch (Exception e)
			{
				// E.g. the alarm cleared meanwhile, or the intake's answer had no ticket ID: report, do not crash.
				string reason = "could not write the ticket onto alarm " + alarm + ": " + e.Message;
				engine.Log("Oceane: " + reason);
				return reason;
			}
		}

		private static int IdMember(IDictionary<string, object> obj, string key)
		{
			object value;
			if (!obj.TryGetValue(key, out value) || value == null)
			{
				throw new InputException(key + ": required (a positive integer)");
			}

			if (value is bool || value is IDictionary || (value is IEnumerable && !(value is string)))
			{
				throw new InputException(key + ": expected a positive integer");
			}

			return AlarmRef.ParseId(key, Convert.ToString(value, CultureInfo.InvariantCulture));
		}
	}
}
