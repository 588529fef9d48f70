// Automation script "Oceane Rule Ticket": what a Correlation rule's "Run Automation script" action runs to open
// the Oceane ticket of the alarm that triggered the rule. No dialog and no alarm parameters: DataMiner passes the
// triggering alarm in the special script parameter 65006 (<Correlation Alarm Info>, pipe-separated:
// 0 alarm ID | 1 DMA ID | 2 element ID | ... | 5 root alarm ID | ... | 10 alarm value | 11 alarm time | ...) and the
// rule's state in 65002 (<Correlation State>: "up" when the rule matched, "down" when it no longer does, with
// "Execute on clear"); see SkylineCommunications/dataminer-docs, user-guide/Advanced_Modules/Correlation/
// Adding_rule_actions/Running_an_Automation_script_from_a_Correlation_rule.md and
// user-guide/Advanced_Modules/Automation_module/Special_parameters_available_in_DMS_Automation_scripts.md (and its FAQ
// "How do I parse Correlation Alarm Info data?").
// The request is sent with origin "rule": the service holds it behind OCEANE_AUTO_TICKETS_PER_MINUTE, so a storm of
// rule runs never delays an operator's click, and answers at once (no wait: the Correlation engine's script is
// not held for Oceane). Priority, Urgency, Technical Impact, Client Impact and Description come from the script
// parameters; an empty one takes the default below. The intake's URL and token come from the Agent's intake.json.
namespace OceaneRuleTicket
{
	using System.Globalization;

	using Oceane.DataMiner;

	using Skyline.DataMiner.Automation;

	/// <summary>The script's entry point.</summary>
	public class Script
	{
		/// <summary>The script's configuration: the ticket details of a rule action that leaves a parameter empty.</summary>
		public const string DefaultPriority = "3";

		public const string DefaultUrgency = "Major";

		public const string DefaultTechnicalImpact = "Major";

		/// <summary>The special parameter with the triggering alarm (dataminer-docs, Special parameters).</summary>
		public const int CorrelationAlarmInfo = 65006;

		/// <summary>The special parameter with the rule's state: up, or down (the rule no longer matches).</summary>
		public const int CorrelationState = 65002;

		/// <summary>Runs the script.</summary>
		/// <param name="engine">Link with SLAutomation.</param>
		public void Run(IEngine engine)
		{
			ScriptRun.Headless(engine, "Oceane Rule Ticket", () => Create(engine));
		}

		/// <summary>
		/// The alarm of a Correlation Alarm Info string: the root alarm (one alarm tree, one ticket), its element's
		/// name (the info does not carry it; the element's ID stands in when DataMiner no longer knows the element),
		/// its value and time (left out unless it carries its UTC offset, as for the hyperlink's Root Time).
		/// </summary>
		public static AlarmDetails ParseAlarmInfo(IEngine engine, string info)
		{
			string[] parts = (info ?? string.Empty).Split('|');
			if (parts.Length < 12)
			{
				throw new InputException("Correlation Alarm Info (parameter 65006): expected at least 12 '|'-separated fields, got "
					+ parts.Length.ToString(CultureInfo.InvariantCulture) + "; run this script from a Correlation rule's action");
			}

			string rootId = parts[5].Trim();
			int parsedRoot;
			bool hasRoot = int.TryParse(rootId, NumberStyles.None, CultureInfo.InvariantCulture, out parsedRoot) && parsedRoot > 0;
			AlarmRef alarm = AlarmRef.Parse(parts[1], parts[2], hasRoot ? rootId : parts[0]);
			Element element = engine.FindElement(alarm.DmaId, alarm.ElementId);
			string name = element == null ? null : element.ElementName;
			return new AlarmDetails
			{
				Alarm = alarm,
				ElementName = string.IsNullOrWhiteSpace(name) ? "element " + alarm.DmaId.ToString(CultureInfo.InvariantCulture)
					+ "/" + alarm.ElementId.ToString(CultureInfo.InvariantCulture) : name.Trim(),
				AlarmValue = parts[10].Trim(),
				RootTime = AlarmDetails.ParseRootTime(parts[11]),
			};
		}

		/// <summary>Queues (or finds) the ticket request of the rule's alarm; the failure text, or null.</summary>
		private static string Create(IEngine engine)
		{
			ScriptParam state = engine.GetScriptParam(CorrelationState);
			if (state != null && string.Equals((state.Value ?? string.Empty).Trim(), "down", System.StringComparison.OrdinalIgnoreCase))
			{
				// The rule stopped matching (Execute on clear): a clear is Oceane Alarm Event's business, not a new ticket.
				engine.Log("Oceane Rule Ticket: the rule no longer matches its alarm; no ticket requested");
				return null;
			}

			ScriptParam info = engine.GetScriptParam(CorrelationAlarmInfo);
			if (info == null || string.IsNullOrWhiteSpace(info.Value))
			{
				return "Correlation Alarm Info (parameter 65006) is missing: run this script from a Correlation rule's action";
			}

			AlarmDetails alarm = ParseAlarmInfo(engine, info.Value);
			var details = new TicketDetails
			{
				Priority = OrDefault(ScriptParams.Optional(engine, "Priority"), DefaultPriority),
				Urgency = OrDefault(ScriptParams.Optional(engine, "Urgency"), DefaultUrgency),
				TechnicalImpact = OrDefault(ScriptParams.Optional(engine, "Technical Impact"), DefaultTechnicalImpact),
				ClientImpact = ScriptParams.Optional(engine, "Client Impact"),
				Description = ScriptParams.Optional(engine, "Description"),
				User = engine.UserLoginName,
				Origin = "rule",
			};

			IntakeSettings settings = IntakeSettings.Load();
			using (var intake = new IntakeClient(settings))
			{
				TicketAnswer answer = intake.CreateTicket(alarm, details, 0);
				engine.AddScriptOutput("instance", answer.Instance);
				engine.AddScriptOutput("status", answer.Status);
				engine.AddScriptOutput("existing", answer.Existing ? "true" : "false");
				if (answer.IsFailed)
				{
					return "Oceane did not create the ticket for alarm " + alarm.Alarm + ": " + answer.Error;
				}

				if (answer.IsCreated && intake.GetForm().Writer == AlarmWriter.None)
				{
					// The alarm's existing ticket: written here, as the other scripts do under writer mode none. A new
					// request is not created yet (held or queued); only a worker-side writer puts it on the alarm.
					string writeProblem = PropertyUpdate.TryWriteTicket(engine, alarm.Alarm, answer);
					if (writeProblem != null)
					{
						return "ticket " + answer.TicketId + " exists, but the script " + writeProblem;
					}
				}

				engine.Log("Oceane Rule Ticket: alarm " + alarm.Alarm + " -> request " + answer.Instance + " (" + answer.Status + ")");
			}

			return null;
		}

		private static string OrDefault(string value, string fallback)
		{
			return string.IsNullOrWhiteSpace(value) ? fallback : value.Trim();
		}
	}
}
