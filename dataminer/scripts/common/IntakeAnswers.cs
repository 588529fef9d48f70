// What the intake answers (one ticket request, the dialog's form) and what the scripts send it.
namespace Oceane.DataMiner
{
	using System;
	using System.Collections.Generic;
	using System.Globalization;

	/// <summary>The intake's answer object for one ticket request.</summary>
	public sealed class TicketAnswer
	{
		public string Instance { get; set; }

		/// <summary>Gets or sets queued, processing, created or failed.</summary>
		public string Status { get; set; }

		public string TicketId { get; set; }

		public string TicketUrl { get; set; }

		/// <summary>Gets or sets a value indicating whether this is the alarm's open request rather than a new one.</summary>
		public bool Existing { get; set; }

		public string Error { get; set; }

		/// <summary>Gets or sets Oceane's own status of the ticket (e.g. resolved), when the intake knows it.</summary>
		public string OceaneStatus { get; set; }

		/// <summary>Gets a value indicating whether Oceane has finished with the ticket (Create Ticket shows again then).</summary>
		public bool IsFinalInOceane
		{
			get
			{
				switch ((OceaneStatus ?? string.Empty).ToLowerInvariant())
				{
					case "resolved":
					case "closed":
					case "cancelled":
					case "rejected":
						return true;
					default:
						return false;
				}
			}
		}

		public bool IsCreated
		{
			get { return Status == "created"; }
		}

		public bool IsFailed
		{
			get { return Status == "failed"; }
		}

		public bool IsPending
		{
			get { return Status == "queued" || Status == "processing"; }
		}

		public static TicketAnswer FromJson(string body)
		{
			var obj = Json.ParseAnswer(body) as IDictionary<string, object>;
			if (obj == null)
			{
				throw new IntakeException(0, "the intake answered something that is not a JSON object");
			}

			return new TicketAnswer
			{
				Instance = Json.Str(obj, "instance"),
				Status = Json.Str(obj, "status"),
				TicketId = Json.Str(obj, "ticketId"),
				TicketUrl = Json.Str(obj, "ticketUrl"),
				Existing = Json.Bool(obj, "existing"),
				Error = Json.Str(obj, "error"),
				OceaneStatus = Json.Str(obj, "oceaneStatus"),
			};
		}
	}

	/// <summary>The allowed values of each dialog field (GET /form).</summary>
	public sealed class FormSpec
	{
		public List<string> Priorities { get; set; }

		public List<string> Urgencies { get; set; }

		public List<string> TechnicalImpacts { get; set; }

		public List<string> ClientImpacts { get; set; }

		public int DescriptionMaxLength { get; set; }

		/// <summary>Gets or sets who writes the ticket onto the alarm: the intake's OCEANE_ALARM_WRITER.</summary>
		public AlarmWriter Writer { get; set; }

		public static FormSpec FromJson(string body)
		{
			var obj = Json.ParseAnswer(body) as IDictionary<string, object>;
			if (obj == null)
			{
				throw new IntakeException(0, "the intake's /form answer is not a JSON object");
			}

			int maxLength;
			if (!int.TryParse(Json.Str(obj, "descriptionMaxLength"), NumberStyles.None, CultureInfo.InvariantCulture, out maxLength))
			{
				maxLength = 4000;
			}

			return new FormSpec
			{
				Priorities = Json.Strings(obj, "priority"),
				Urgencies = Json.Strings(obj, "urgency"),
				TechnicalImpacts = Json.Strings(obj, "technicalImpact"),
				ClientImpacts = Json.Strings(obj, "clientImpact"),
				DescriptionMaxLength = maxLength,
				Writer = IntakeSettings.ParseWriter(Json.Str(obj, "alarmWriter")),
			};
		}
	}

	/// <summary>The operator's (or the rule's) ticket details.</summary>
	public sealed class TicketDetails
	{
		public string Priority { get; set; }

		public string Urgency { get; set; }

		public string TechnicalImpact { get; set; }

		public string ClientImpact { get; set; }

		public string Description { get; set; }

		public string User { get; set; }

		/// <summary>Gets or sets who asks: empty (an operator, the intake's default) or "rule" (a Correlation rule's, held by the rule cap).</summary>
		public string Origin { get; set; }

		/// <summary>The first problem a person can fix in the dialog, or null. The intake validates again.</summary>
		public string Check(FormSpec form)
		{
			if (string.IsNullOrEmpty(Priority))
			{
				return "Priority is required";
			}

			if (string.IsNullOrEmpty(Urgency))
			{
				return "Urgency is required";
			}

			if (string.IsNullOrEmpty(TechnicalImpact))
			{
				return "Technical Impact is required";
			}

			if (form != null && (Description ?? string.Empty).Length > form.DescriptionMaxLength)
			{
				return "Description is " + (Description ?? string.Empty).Length.ToString(CultureInfo.InvariantCulture)
					+ " characters long; at most " + form.DescriptionMaxLength.ToString(CultureInfo.InvariantCulture) + " are allowed";
			}

			return null;
		}

		/// <summary>The POST /tickets body (camelCase, as the intake's contract).</summary>
		public string ToJson(AlarmDetails alarm)
		{
			var body = new Dictionary<string, object>
			{
				{ "dmaId", alarm.Alarm.DmaId },
				{ "elementId", alarm.Alarm.ElementId },
				{ "alarmId", alarm.Alarm.AlarmId },
				{ "elementName", alarm.ElementName },
				{ "alarmValue", alarm.AlarmValue ?? string.Empty },
				{ "rootTime", string.IsNullOrEmpty(alarm.RootTime) ? null : alarm.RootTime },
				{ "priority", Priority },
				{ "urgency", Urgency },
				{ "technicalImpact", TechnicalImpact },
				{ "clientImpact", ClientImpact ?? string.Empty },
				{ "description", Description ?? string.Empty },
				{ "user", User ?? string.Empty },
			};
			if (!string.IsNullOrEmpty(Origin))
			{
				body["origin"] = Origin;
			}

			return Json.Serialize(body);
		}
	}
}
